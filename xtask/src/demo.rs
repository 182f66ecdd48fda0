//! `cargo xtask demo`: runs the demo Expert end to end, offline, against the project's
//! scripted LLM server, through the real CLI, provider, skill host and storage.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use perstack_testkit::ScriptedLlm;

pub fn run(root: &Path, build: bool) -> Result<()> {
    let script_path = root.join("examples/demo/script.json");
    let bin = root.join("target/debug/perstack");
    if build {
        crate::build_perstack(root, false)?;
    }
    if !bin.exists() {
        bail!(
            "{} is missing; run `cargo xtask demo` without --no-build",
            bin.display()
        );
    }
    let llm = ScriptedLlm::from_file(&script_path)
        .with_context(|| format!("starting the scripted LLM on {}", script_path.display()))?;
    let workspace = root.join("target/demo-workspace");
    let _ = std::fs::remove_dir_all(&workspace);
    std::fs::create_dir_all(&workspace)?;
    eprintln!(
        "demo: scripted LLM at {}, workspace {}",
        llm.base_url,
        workspace.display()
    );
    let events_path = root.join("target/demo-events.jsonl");
    let events_file = std::fs::File::create(&events_path)?;
    let status = Command::new(&bin)
        .current_dir(root)
        .args([
            "run",
            "--config",
            "examples/demo/perstack.toml",
            "--provider",
            "openai",
        ])
        .args(["--model", "demo-model", "--workspace"])
        .arg(&workspace)
        .args(["greeter", "Write a short greeting to hello.md"])
        // Set on the child only: the demo key is not a secret and reaches only loopback.
        .env("OPENAI_BASE_URL", &llm.base_url)
        .env("OPENAI_API_KEY", "demo-key-not-a-secret")
        .stdout(events_file)
        .status()
        .context("running perstack")?;
    let served = llm.served();
    let hello = std::fs::read_to_string(workspace.join("hello.md")).unwrap_or_default();
    eprintln!(
        "\ndemo: perstack run exited with {status}; the scripted LLM answered {served} request(s)"
    );
    eprintln!(
        "demo: the events (JSON Lines) are in {}; as `perstack log` shows them:",
        events_path.display()
    );
    Command::new(&bin)
        .args(["log", "--take", "0", "--workspace"])
        .arg(&workspace)
        .status()?;
    eprintln!("demo: hello.md now holds:\n{hello}");
    let verify = Command::new(&bin)
        .args(["log", "--verify", "--workspace"])
        .arg(&workspace)
        .status()?;
    if !status.success() || hello.is_empty() || !verify.success() {
        bail!("the demo did not complete");
    }
    eprintln!(
        "demo: completed. Inspect it with: perstack log --workspace {}",
        workspace.display()
    );
    Ok(())
}
