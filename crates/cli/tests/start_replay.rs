//! `perstack start` and `perstack replay` end to end against the project's scripted LLM
//! server: the live transcript, prompts answered through stdin, and replay of what was stored.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Runs `perstack args... --workspace ws` with `stdin` piped in.
fn perstack(llm: Option<&ScriptedLlm>, args: &[&str], workspace: &Path, stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perstack"));
    cmd.args(args)
        .arg("--workspace")
        .arg(workspace)
        .current_dir(root())
        .env_remove("PERSTACK_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(llm) = llm {
        // Set on the child only; the key is not a secret and reaches only loopback.
        cmd.env("OPENAI_BASE_URL", &llm.base_url)
            .env("OPENAI_API_KEY", "scripted-key-not-a-secret");
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The only job of the workspace.
fn job_id(ws: &Path) -> String {
    let jobs: Vec<_> = std::fs::read_dir(ws.join("perstack/jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs[0].clone()
}

/// The transcript without what varies between runs: the workspace path, elapsed times.
fn redact(s: &str, ws: &Path) -> String {
    let canonical = std::fs::canonicalize(ws).unwrap();
    redact_times(&s.replace(&canonical.display().to_string(), "<ws>"))
}

/// Elapsed times vary from run to run; snapshots show them as `<t>`.
fn redact_times(s: &str) -> String {
    s.split(" · ")
        .map(|part| {
            let (head, rest) = part.split_at(part.find('\n').unwrap_or(part.len()));
            let is_time = head.ends_with("ms") && head[..head.len() - 2].chars().all(|c| c.is_ascii_digit())
                || head.ends_with('s')
                    && !head.is_empty()
                    && head[..head.len() - 1]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '.' || c == 'm');
            if is_time && !head.is_empty() {
                format!("<t>{rest}")
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn demo_args() -> Vec<&'static str> {
    vec![
        "--config",
        "examples/demo/perstack.toml",
        "--provider",
        "openai",
        "--model",
        "scripted-model",
        "greeter",
        "Write a short greeting to hello.md",
    ]
}

#[test]
fn start_renders_the_demo_and_replay_prints_exactly_the_same() {
    let llm = ScriptedLlm::from_file(&root().join("examples/demo/script.json")).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mut args = vec!["start"];
    args.extend(demo_args());
    let live = perstack(Some(&llm), &args, ws.path(), "");
    assert_eq!(live.status.code(), Some(0), "stderr: {}", stderr(&live));
    let transcript = stdout(&live);
    assert!(!transcript.contains('\x1b'), "escape codes off a terminal");
    assert!(!stderr(&live).contains('\x1b'), "no status line off a terminal");
    let job = job_id(ws.path());
    let replay = perstack(None, &["replay", &job], ws.path(), "");
    assert_eq!(replay.status.code(), Some(0), "stderr: {}", stderr(&replay));
    assert_eq!(stdout(&replay), transcript);
    assert_eq!(llm.served(), 4, "replay calls no model");
    insta::assert_snapshot!("demo_transcript", redact(&transcript, ws.path()));
}
