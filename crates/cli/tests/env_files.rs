//! Env files through the real binary, as Perstack's CLI reads them: from the current folder
//! (not the config's), after the process environment (an empty process value counts as
//! unset), `.env` before `.env.local` with the first value winning; and, wherever they are,
//! tools cannot read them.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

const CONFIG: &str = "model = \"scripted-model\"\nmaxRetries = 0\n\n[provider]\nproviderName = \"openai\"\n\n\
[experts.\"greeter\"]\ninstruction = \"You write greetings.\"\n";

/// A port nothing listens on: a run sent there fails.
const DEAD: &str = "http://127.0.0.1:9/v1";

fn llm() -> ScriptedLlm {
    ScriptedLlm::start(vec![
        Turn::call("attemptCompletion", json!({})),
        Turn::text("done"),
    ])
    .unwrap()
}

/// `perstack run` with the config in `config_dir`, from `cwd`, with `process` as the only
/// OpenAI variables of the process environment.
fn run(config_dir: &Path, cwd: &Path, process: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perstack"));
    cmd.arg("run")
        .arg("--config")
        .arg(config_dir.join("perstack.toml"))
        .arg("--workspace")
        .arg(cwd)
        .args(["greeter", "hello"])
        .current_dir(cwd)
        .env_remove("PERSTACK_LOG")
        .env_remove("PERSTACK_STATE_DIR")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL");
    for (k, v) in process {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn dirs() -> (tempfile::TempDir, tempfile::TempDir) {
    let config_dir = tempfile::tempdir().unwrap();
    std::fs::write(config_dir.path().join("perstack.toml"), CONFIG).unwrap();
    (config_dir, tempfile::tempdir().unwrap())
}

#[test]
fn env_files_are_read_from_the_current_folder_not_the_configs() {
    let llm = llm();
    let (config_dir, cwd) = dirs();
    let key = "OPENAI_API_KEY=scripted-key-not-a-secret\n";
    std::fs::write(config_dir.path().join(".env"), key).unwrap();
    let base = [("OPENAI_BASE_URL", llm.base_url.as_str())];
    let out = run(config_dir.path(), cwd.path(), &base);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("OPENAI_API_KEY is not set"), "{stderr}");
    std::fs::write(cwd.path().join(".env"), key).unwrap();
    // An empty value in the process environment counts as unset, as in Perstack.
    let with_empty = [base[0], ("OPENAI_API_KEY", "")];
    let out = run(config_dir.path(), cwd.path(), &with_empty);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn the_process_environment_wins_then_env_then_env_local() {
    let llm = llm();
    let (config_dir, cwd) = dirs();
    let good = &llm.base_url;
    std::fs::write(
        cwd.path().join(".env"),
        format!("OPENAI_API_KEY=scripted-key-not-a-secret\nOPENAI_BASE_URL={DEAD}\n"),
    )
    .unwrap();
    // The process environment's base URL beats the dead one in .env.
    let out = run(config_dir.path(), cwd.path(), &[("OPENAI_BASE_URL", good)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // .env comes first and its value stays: the good URL there, a dead one in .env.local.
    let llm = self::llm();
    std::fs::write(
        cwd.path().join(".env"),
        format!(
            "OPENAI_API_KEY=scripted-key-not-a-secret\nOPENAI_BASE_URL={}\n",
            llm.base_url
        ),
    )
    .unwrap();
    std::fs::write(
        cwd.path().join(".env.local"),
        format!("OPENAI_BASE_URL={DEAD}\n"),
    )
    .unwrap();
    let out = run(config_dir.path(), cwd.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(llm.requests().len(), 2);
}

#[test]
fn env_files_in_the_current_folder_are_unreadable_to_tools_when_the_config_is_elsewhere() {
    let llm = ScriptedLlm::start(vec![
        Turn::call("readTextFile", json!({"path": ".env"})),
        Turn::call("readTextFile", json!({"path": ".env.local"})),
        Turn::call("attemptCompletion", json!({})),
        Turn::text("done"),
    ])
    .unwrap();
    let (config_dir, cwd) = dirs();
    std::fs::write(
        cwd.path().join(".env"),
        "OPENAI_API_KEY=scripted-key-not-a-secret\nMARKER=env-file-content-4711\n",
    )
    .unwrap();
    std::fs::write(cwd.path().join(".env.local"), "LOCAL=local-content-4712\n").unwrap();
    let out = run(
        config_dir.path(),
        cwd.path(),
        &[("OPENAI_BASE_URL", llm.base_url.as_str())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let requests = llm.requests();
    let seen = serde_json::to_string(requests.last().unwrap()).unwrap();
    assert_eq!(seen.matches("it holds credentials").count(), 2, "{seen}");
    assert!(!seen.contains("4711") && !seen.contains("4712"), "{seen}");
}
