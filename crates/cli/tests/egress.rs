//! `perstack run --egress` through a real `perstack proxy`, on the host (no container): the
//! runner has no key in its environment or env files, the proxy adds it, and a config the
//! runner was handed that points elsewhere is refused with a message that says why. The
//! container tests (`tests/container/`) repeat this inside real containers.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const KEY: &str = "sk-held-by-the-proxy-only-0123456789";

struct Proxy {
    child: Child,
    access: Arc<Mutex<Vec<Value>>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_proxy(config: &Path, socket: &Path, llm: &ScriptedLlm) -> Proxy {
    let mut child = Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(["proxy", "--config"])
        .arg(config)
        .arg("--socket")
        .arg(socket)
        .args(["--allow-private", llm.base_url.trim_end_matches("/v1")])
        .env_clear()
        .env("OPENAI_API_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let access = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&access);
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            sink.lock()
                .unwrap()
                .push(serde_json::from_str(&line).unwrap());
        }
    });
    let t0 = Instant::now();
    while !socket.exists() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no socket");
        std::thread::sleep(Duration::from_millis(10));
    }
    Proxy { child, access }
}

fn write_config(dir: &Path, base_url: &str) -> std::path::PathBuf {
    let path = dir.join("perstack.toml");
    std::fs::write(
        &path,
        format!(
            "model = \"scripted-model\"\nmaxRetries = 0\n[provider]\nproviderName = \"openai\"\n\
             [provider.setting]\nbaseUrl = \"{base_url}\"\n\n[experts.\"writer\"]\ninstruction = \"Write.\"\n"
        ),
    )
    .unwrap();
    path
}

fn run(config: &Path, socket: &Path, workspace: &Path) -> std::process::Output {
    // An env file in the current folder that carries a key: with --egress it is never used.
    std::fs::write(
        config.parent().unwrap().join(".env"),
        "OPENAI_API_KEY=sk-from-an-env-file-never-sent-0123\n",
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_perstack"))
        .current_dir(config.parent().unwrap())
        .arg("run")
        .arg("--config")
        .arg(config)
        .arg("--workspace")
        .arg(workspace)
        .arg("--egress")
        .arg(format!("unix://{}", socket.display()))
        .args(["writer", "Write hello.md"])
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("PERSTACK_LOG")
        .output()
        .unwrap()
}

#[test]
fn a_keyless_runner_completes_through_the_proxy_which_adds_the_key() {
    let llm = ScriptedLlm::start(vec![
        Turn::call("writeTextFile", json!({"path": "hello.md", "text": "hi\n"})),
        Turn::call("attemptCompletion", json!({})),
        Turn::text("done"),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &llm.base_url);
    let socket = dir.path().join("egress.sock");
    let proxy = start_proxy(&config, &socket, &llm);
    let ws = tempfile::tempdir().unwrap();
    let out = run(&config, &socket, ws.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("hello.md")).unwrap(),
        "hi\n"
    );
    assert_eq!(llm.served(), 3);
    let init: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(init["type"], "initializeRuntime");
    assert_eq!(init["egress"], format!("unix://{}", socket.display()));
    let access = proxy.access.lock().unwrap().clone();
    assert_eq!(access.len(), 3, "{access:?}");
    for a in &access {
        assert_eq!(a["decision"], "allowed", "{a}");
        assert_eq!(a["credential"], "authorization", "{a}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    for secret in [KEY, "sk-from-an-env-file-never-sent-0123"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
}

#[test]
fn a_provider_url_off_the_allowlist_is_refused_with_a_readable_error() {
    let llm = ScriptedLlm::start(vec![Turn::text("never")]).unwrap();
    let operator = tempfile::tempdir().unwrap();
    let operator_config = write_config(operator.path(), &llm.base_url);
    let socket = operator.path().join("egress.sock");
    let proxy = start_proxy(&operator_config, &socket, &llm);
    // The runner's own config (rewritten by a compromised workspace) points elsewhere.
    let runner = tempfile::tempdir().unwrap();
    let runner_config = write_config(runner.path(), "https://exfil.example.net/v1");
    let ws = tempfile::tempdir().unwrap();
    let out = run(&runner_config, &socket, ws.path());
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("exfil.example.net"), "{all}");
    assert!(all.contains("allowlist"), "{all}");
    assert_eq!(llm.served(), 0);
    let access = proxy.access.lock().unwrap().clone();
    assert!(!access.is_empty());
    assert!(
        access.iter().all(|a| a["decision"] == "refused"),
        "{access:?}"
    );
}
