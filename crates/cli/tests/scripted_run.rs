//! `perstack run` end to end against the project's scripted LLM server: the demo Expert's
//! conversation through the real binary, provider, skill host, runtime and storage.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output};

use perstack_testkit::ScriptedLlm;
use pretty_assertions::assert_eq;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn perstack(llm: &ScriptedLlm, args: &[&str], workspace: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(args)
        .arg("--workspace")
        .arg(workspace)
        .current_dir(root())
        .env_remove("PERSTACK_LOG")
        // Set on the child only; the key is not a secret and reaches only loopback.
        .env("OPENAI_BASE_URL", &llm.base_url)
        .env("OPENAI_API_KEY", "scripted-key-not-a-secret")
        .output()
        .unwrap()
}

#[test]
fn the_demo_expert_runs_to_completion_with_events_on_stdout_only() {
    let llm = ScriptedLlm::from_file(&root().join("examples/demo/script.json")).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let out = perstack(
        &llm,
        &[
            "run",
            "--config",
            "examples/demo/perstack.toml",
            "--provider",
            "openai",
            "--model",
            "scripted-model",
            "greeter",
            "Write a short greeting to hello.md",
        ],
        ws.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let events: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"initializeRuntime"));
    // The run completes; only the skills' shutdown follows, then the audit anchor (last).
    let done = types.iter().position(|t| *t == "completeRun").unwrap();
    assert_eq!(types.last(), Some(&"auditAnchor"), "{types:?}");
    assert!(
        types[done + 1..types.len() - 1]
            .iter()
            .all(|t| *t == "skillDisconnected"),
        "{types:?}"
    );
    assert_eq!(llm.served(), 4);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("hello.md")).unwrap(),
        "# Hello\n\nHello from a perstack Expert!\n"
    );
    // The model was offered the base skill's tools, and saw the file it wrote on turn 2.
    let second = &llm.requests()[1];
    let tools: Vec<&str> = second["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(tools.contains(&"writeTextFile"), "{tools:?}");
    let verify = Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(["log", "--verify", "--workspace"])
        .arg(ws.path())
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
