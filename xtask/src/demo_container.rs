//! `cargo xtask demo --container`: the demo Expert in the production shape, offline. The
//! scripted LLM server and `perstack proxy` (holding the only key) run on this machine; the
//! Expert runs in a hardened container with no network, reaching the proxy through a
//! mounted Unix socket.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use perstack_testkit::ScriptedLlm;

use crate::image;

/// The image's user and group.
const UID: u32 = 10001;

/// What `cargo xtask demo --container` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Build the image first.
    pub build: bool,
    /// The docker client.
    pub docker: String,
}

pub fn run(root: &Path, opts: &Options) -> Result<()> {
    image::check_docker(&opts.docker)?;
    if opts.build {
        image::build(
            root,
            &image::Options {
                build: true,
                tags: Vec::new(),
                docker: opts.docker.clone(),
            },
        )?;
    }
    let dir = root.join("target/demo-container");
    let _ = std::fs::remove_dir_all(&dir);
    let (config_dir, run_dir, workspace, state) = (
        dir.join("config"),
        dir.join("run"),
        dir.join("workspace"),
        dir.join("state"),
    );
    for d in [&config_dir, &run_dir, &workspace, &state] {
        std::fs::create_dir_all(d)?;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
    }
    for d in [&workspace, &state] {
        std::os::unix::fs::chown(d, Some(UID), Some(UID))
            .with_context(|| format!("giving {} to uid {UID} (run as root)", d.display()))?;
    }
    let llm = ScriptedLlm::from_file(&root.join("examples/demo/script.json"))
        .context("starting the scripted LLM")?;
    // The demo config, with the scripted server as its OpenAI-compatible provider.
    let demo = std::fs::read_to_string(root.join("examples/demo/perstack.toml"))?;
    let config = config_dir.join("perstack.toml");
    std::fs::write(
        &config,
        format!(
            "{demo}\n[provider]\nproviderName = \"openai\"\n[provider.setting]\nbaseUrl = \"{}\"\n",
            llm.base_url
        ),
    )?;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644))?;

    let bin = image::static_binary_path(root);
    let socket = run_dir.join("egress.sock");
    let access_path = dir.join("proxy-access.jsonl");
    let mut proxy = Command::new(&bin)
        .arg("proxy")
        .arg("--config")
        .arg(&config)
        .arg("--socket")
        .arg(&socket)
        .args(["--socket-mode", "0660", "--socket-group", &UID.to_string()])
        .args(["--allow-private", llm.base_url.trim_end_matches("/v1")])
        .env_clear()
        // The only key of the demo, held by the proxy (not a secret: it reaches loopback).
        .env("OPENAI_API_KEY", "demo-key-held-by-the-proxy")
        .stdout(std::fs::File::create(&access_path)?)
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting perstack proxy")?;
    let t0 = Instant::now();
    while !socket.exists() {
        if t0.elapsed() > Duration::from_secs(20) || proxy.try_wait()?.is_some() {
            let _ = proxy.kill();
            bail!("perstack proxy did not create {}", socket.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "demo: scripted LLM at {}; perstack proxy on {}; running the container",
        llm.base_url,
        socket.display()
    );
    let events_path = dir.join("events.jsonl");
    let status = Command::new(&opts.docker)
        .args(["run", "--rm", "--read-only", "--tmpfs", "/tmp"])
        .args(["--cap-drop", "ALL", "--security-opt", "no-new-privileges"])
        .args(["--user", "10001:10001", "--network", "none"])
        .args(["--memory", "256m", "--pids-limit", "128"])
        .arg("-v")
        .arg(format!("{}:/workspace", workspace.display()))
        .arg("-v")
        .arg(format!("{}:/state", state.display()))
        .arg("-v")
        .arg(format!("{}:/config:ro", config_dir.display()))
        .arg("-v")
        .arg(format!("{}:/run/perstack:ro", run_dir.display()))
        .args(["-e", "PERSTACK_STATE_DIR=/state"])
        .args(["-e", "PERSTACK_EGRESS=unix:///run/perstack/egress.sock"])
        .args(["-e", "PERSTACK_CONFIG=/config/perstack.toml"])
        .arg("perstack:latest")
        .args(["greeter", "Write a short greeting to hello.md"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&events_path)?)
        .status()
        .context("running the container")?;
    let _ = proxy.kill();
    let _ = proxy.wait();

    let access = std::fs::File::open(&access_path)?;
    let decisions: Vec<String> = BufReader::new(access)
        .lines()
        .map_while(Result::ok)
        .collect();
    eprintln!(
        "\ndemo: the container exited with {status}; the proxy logged {} decision(s) in {}:",
        decisions.len(),
        access_path.display()
    );
    for line in &decisions {
        eprintln!("  {line}");
    }
    eprintln!(
        "demo: events (JSON Lines, from the container's stdout) are in {}",
        events_path.display()
    );
    let hello = std::fs::read_to_string(workspace.join("hello.md")).unwrap_or_default();
    eprintln!("demo: hello.md now holds:\n{hello}");
    let verify = Command::new(&bin)
        .args(["log", "--verify", "--state-dir"])
        .arg(&state)
        .arg("--workspace")
        .arg(&workspace)
        .status()?;
    if !status.success() || hello.is_empty() || !verify.success() || decisions.is_empty() {
        bail!("the container demo did not complete");
    }
    eprintln!(
        "demo: completed in a container with no network and no key; inspect it with: \
         perstack log --state-dir {} --workspace {}",
        state.display(),
        workspace.display()
    );
    Ok(())
}
