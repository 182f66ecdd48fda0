//! Failing fast and saying why (issue 12): every non-zero exit of `run` prints one human
//! line on stderr naming what happened and what to do; input errors exit 2 before any
//! event; an unreachable local provider fails at once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(60);

const CONFIG: &str = r#"
[experts."worker"]
version = "1.0.0"
description = "Does what the scripted model says."
instruction = "Follow the user's request."
"#;

/// Runs perstack in `ws` with `args` and exactly the variables in `env` set (plus PATH and
/// HOME), killing it and failing past `DEADLINE`. Returns the output and how long it took.
fn perstack(ws: &Path, env: &[(&str, &str)], args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perstack"));
    cmd.args(args)
        .current_dir(ws)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", ws)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "perstack {args:?} still running after {DEADLINE:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed();
    (child.wait_with_output().unwrap(), took)
}

fn workspace(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("perstack.toml"), config).unwrap();
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `error:` lines on stderr (logs and warnings, such as the one about a provider at a
/// non-official host, are left out). The error line is always the last line.
fn human_lines(out: &Output) -> Vec<String> {
    let text = stderr(out);
    let lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("error"))
        .map(str::to_string)
        .collect();
    if let Some(last) = lines.last() {
        assert_eq!(text.lines().last(), Some(last.as_str()), "{text}");
    }
    lines
}

fn openai(llm: &ScriptedLlm) -> [(&'static str, String); 2] {
    [
        ("OPENAI_BASE_URL", llm.base_url.clone()),
        ("OPENAI_API_KEY", "scripted-key-not-a-secret".into()),
    ]
}

fn run_openai(ws: &Path, llm: &ScriptedLlm, flags: &[&str]) -> Output {
    let env = openai(llm);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = vec!["run", "--provider", "openai", "--model", "gpt-4o"];
    args.extend(flags);
    perstack(ws, &env, &args).0
}

fn events(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn a_401_prints_one_line_naming_the_key_variable() {
    let llm = ScriptedLlm::start(vec![Turn::failure(401)]).unwrap();
    let ws = workspace(CONFIG);
    let out = run_openai(ws.path(), &llm, &["worker", "hello"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = human_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with(
            "error: openai rejected the credentials (HTTP 401): check OPENAI_API_KEY \
             (environment or env file); trying again with the same key will fail the same way."
        ),
        "{}",
        lines[0]
    );
    assert_eq!(llm.served(), 1, "a 401 is never retried");
    println!("{}", lines[0]);
}

#[test]
fn max_steps_names_the_flag() {
    let llm = ScriptedLlm::start(vec![Turn::call("todo", json!({"newTodos": ["a"]})); 3]).unwrap();
    let ws = workspace(CONFIG);
    let out = run_openai(ws.path(), &llm, &["--max-steps", "1", "worker", "hello"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let lines = human_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with(
            "error: stopped at step 1: the step limit (--max-steps 1) was reached; raise \
             --max-steps (or maxSteps in perstack.toml) or continue with `perstack run \
             --continue-job "
        ),
        "{}",
        lines[0]
    );
    println!("{}", lines[0]);
}

#[test]
fn a_budget_stop_names_the_limit() {
    let llm = ScriptedLlm::start(vec![Turn::call("todo", json!({"newTodos": ["a"]})); 3]).unwrap();
    let ws = workspace(CONFIG);
    let out = run_openai(
        ws.path(),
        &llm,
        &["--max-total-tokens", "1", "worker", "hello"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let lines = human_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("error: stopped by a budget: maxTotalTokens 1 reached"),
        "{}",
        lines[0]
    );
    println!("{}", lines[0]);
}

#[test]
fn a_missing_key_says_which_provider_why_and_how_to_give_one() {
    let ws = workspace(&format!("model = \"claude-sonnet-4-5\"\n{CONFIG}"));
    let (out, _) = perstack(ws.path(), &[], &["run", "worker", "hello"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        human_lines(&out),
        vec![
            "error: no API key for provider anthropic (the default: no --provider and no \
             [provider] in perstack.toml): ANTHROPIC_API_KEY is not set. Give one with `export \
             ANTHROPIC_API_KEY=...`, an env file (`--env-path .env` or envPath in \
             perstack.toml), another provider with `--provider` (e.g. `--provider ollama`, no \
             key), or `perstack proxy` holding the key outside the sandbox (`--egress`)"
                .to_string()
        ]
    );
    assert!(out.stdout.is_empty());
    println!("{}", human_lines(&out)[0]);
}

#[test]
fn flags_are_checked_before_the_key() {
    let ws = workspace(&format!("model = \"m\"\n{CONFIG}"));
    let (out, _) = perstack(
        ws.path(),
        &[],
        &["run", "--job-id", "bad id!", "worker", "hello"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("invalid job id"), "{}", stderr(&out));
}

#[test]
fn max_duration_zero_exits_2_before_any_event() {
    let ws = workspace(&format!("model = \"m\"\n{CONFIG}"));
    let (out, _) = perstack(
        ws.path(),
        &[],
        &["run", "--max-duration", "0", "worker", "hello"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(
        human_lines(&out),
        vec!["error: --max-duration must be at least 1 (seconds); omit it for no limit"]
    );
}

#[test]
fn continuing_a_completed_job_without_a_query_exits_2() {
    let llm = ScriptedLlm::start(vec![Turn::text("done")]).unwrap();
    let ws = workspace(CONFIG);
    let out = run_openai(ws.path(), &llm, &["--job-id", "j1", "worker", "hello"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = run_openai(ws.path(), &llm, &["--continue-job", "j1", "worker", ""]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(events(&again).is_empty());
    assert_eq!(
        human_lines(&again),
        vec![
            "error: job \"j1\" is completed: continuing it needs a query, e.g. `perstack run \
             --continue-job j1 worker \"what to do next\"`"
        ]
    );
}

#[test]
fn a_missing_required_env_exits_2_naming_the_variable() {
    let ws = workspace(&format!(
        "{CONFIG}\n[experts.\"worker\".skills.\"tool\"]\ntype = \"mcpStdioSkill\"\n\
         command = \"true\"\nargs = []\nrequiredEnv = [\"SOME_TOKEN\"]\n"
    ));
    let llm = ScriptedLlm::start(vec![Turn::text("done")]).unwrap();
    let out = run_openai(ws.path(), &llm, &["worker", "hello"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(events(&out).is_empty());
    assert_eq!(
        human_lines(&out),
        vec![
            "error: environment variable SOME_TOKEN is not set: skill \"tool\" of Expert \
             \"worker\" lists it in requiredEnv; export it or put it in an env file \
             (--env-path or envPath in perstack.toml)"
        ]
    );
    assert_eq!(llm.served(), 0);
}

#[test]
fn a_refused_local_ollama_fails_at_once_saying_so() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let ws = workspace(CONFIG);
    let (out, took) = perstack(
        ws.path(),
        &[("OLLAMA_BASE_URL", &url)],
        &[
            "run",
            "--provider",
            "ollama",
            "--model",
            "llama3.2",
            "worker",
            "hello",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = human_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with(&format!(
            "error: the run stopped with an error: ollama: cannot reach {url} — is Ollama \
             running?"
        )),
        "{}",
        lines[0]
    );
    // The real figure is well under 2 s; the bound is generous for a loaded machine.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    println!("{} (took {took:?})", lines[0]);
}
