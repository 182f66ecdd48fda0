//! The `perstack` binary end to end: exit codes, stdout/stderr separation, help text.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output};

use pretty_assertions::assert_eq;

fn perstack(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(args)
        .current_dir(cwd)
        .env_remove("PERSTACK_LOG")
        .output()
        .unwrap()
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn validate_example_prints_ok_and_a_line_per_expert() {
    let out = perstack(&["validate", "--config", "examples/perstack.toml"], root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!("validate_example", text(&out.stdout));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn validate_finds_the_config_upward() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("perstack.toml"),
        "[experts.\"a\"]\ninstruction = \"Do.\"\n",
    )
    .unwrap();
    let nested = dir.path().join("src/deep");
    std::fs::create_dir_all(&nested).unwrap();
    let out = perstack(&["validate"], &nested);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("ok: "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn validate_errors_go_to_stderr_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "maxSteps = \"ten\"\n[experts.\"a\"]\ninstrution = \"Do.\"\n";
    std::fs::write(dir.path().join("perstack.toml"), bad).unwrap();
    let out = perstack(&["validate", "--config", "perstack.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    insta::assert_snapshot!("validate_errors", text(&out.stderr));
}

#[test]
fn validate_without_any_config_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = perstack(&["validate"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("no perstack.toml found"), "{err}");
    assert!(err.contains("--config"), "{err}");
}

#[test]
fn schema_matches_the_checked_in_docs() {
    for kind in ["events", "config", "checkpoint"] {
        let out = perstack(&["schema", kind], root());
        assert_eq!(out.status.code(), Some(0));
        let doc = std::fs::read_to_string(root().join(format!("docs/schema/{kind}.json"))).unwrap();
        assert_eq!(text(&out.stdout), doc, "{kind}");
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = perstack(&["completions", shell], root());
        assert_eq!(out.status.code(), Some(0));
        let script = text(&out.stdout);
        assert!(
            script.contains("perstack") && script.contains("validate"),
            "{shell}"
        );
        assert!(
            script.contains("continue-job"),
            "{shell}: run flags missing"
        );
    }
}

#[test]
fn run_help_lists_every_perstack_flag_and_exit_codes() {
    let out = perstack(&["run", "--help"], root());
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for flag in [
        "--config",
        "--provider",
        "--model",
        "--reasoning-budget",
        "--max-steps",
        "--max-retries",
        "--timeout",
        "--job-id",
        "--env-path",
        "--continue",
        "--continue-job",
        "--resume-from",
        "--interactive-tool-call-result",
        "-i,",
        "--env <NAME[=VALUE]>",
        "--env NPM_TOKEN --env REGION=eu-west-1",
        "--runtime <RUNTIME>",
        "--runtime docker prints",
        "--continue -i writer",
        "--approve <TOOL_CALL_ID>",
        "--deny <TOOL_CALL_ID>",
        "--reason <TEXT>",
        "requireApproval",
        "--workspace",
        "--verbose",
        "--max-total-tokens <N>",
        "--max-total-cost <USD>",
        "[pricing.\"<model>\"]",
        "--max-duration <SECONDS>",
        "--max-tool-time <SECONDS>",
        "maxToolCallSeconds",
        "Exit codes:",
        "143",
    ] {
        assert!(help.contains(flag), "run --help lacks {flag}");
    }
}

#[test]
fn run_checks_its_inputs_and_keeps_stdout_for_events() {
    let out = perstack(
        &["run", "--config", "examples/perstack.toml", "nobody", "hi"],
        root(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).contains("expert \"nobody\" is not defined"),
        "{}",
        text(&out.stderr)
    );
    let out = perstack(
        &[
            "run",
            "--config",
            "examples/perstack.toml",
            "--resume-from",
            "cp",
            "writer",
            "hi",
        ],
        root(),
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "--resume-from needs --continue-job"
    );
    let out = perstack(
        &[
            "run",
            "--config",
            "examples/perstack.toml",
            "--reasoning-budget",
            "lots",
            "writer",
            "hi",
        ],
        root(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid --reasoning-budget"));
    for (flags, why) in [
        (&["--reason", "no"][..], "--reason needs --deny"),
        (
            &["--approve", "c1", "-i"][..],
            "--approve conflicts with -i",
        ),
    ] {
        let mut args = vec!["run", "--config", "examples/perstack.toml"];
        args.extend_from_slice(flags);
        args.extend(["writer", "hi"]);
        let out = perstack(&args, root());
        assert_eq!(out.status.code(), Some(2), "{why}");
        assert_eq!(text(&out.stdout), "");
    }
}

#[test]
fn max_total_cost_must_be_a_non_negative_amount() {
    for (value, message) in [
        ("-1", "must be a finite amount of US dollars, 0 or more"),
        ("-0.01", "must be a finite amount of US dollars, 0 or more"),
        ("inf", "must be a finite amount of US dollars, 0 or more"),
        ("NaN", "must be a finite amount of US dollars, 0 or more"),
        ("ten", "expected an amount in US dollars, e.g. 2.50"),
        ("", "expected an amount in US dollars, e.g. 2.50"),
    ] {
        let out = perstack(
            &[
                "run",
                "--config",
                "examples/perstack.toml",
                "--max-total-cost",
                value,
                "writer",
                "hi",
            ],
            root(),
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value}: {stderr}");
        assert_eq!(text(&out.stdout), "");
        assert!(
            stderr.contains("--max-total-cost") && stderr.contains(message),
            "{value}: {stderr}"
        );
    }
}

#[test]
fn max_total_cost_with_an_unpriced_model_is_refused_before_running() {
    let out = perstack(
        &[
            "run",
            "--config",
            "examples/perstack.toml",
            "--model",
            "mystery-model-7",
            "--max-total-cost",
            "$2.50",
            "writer",
            "hi",
        ],
        root(),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(text(&out.stdout), "");
    assert!(
        stderr.contains("no price is known for model \"mystery-model-7\"")
            && stderr.contains("[pricing.\"mystery-model-7\"]"),
        "{stderr}"
    );
}

#[test]
fn skill_base_serves_mcp_on_stdio() {
    use std::io::{BufRead, BufReader, Write};
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("hello.txt"), "hi there").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(["skill", "base", "--workspace"])
        .arg(ws.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let requests = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"cli-test","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"readTextFile","arguments":{"path":"hello.txt"}}}"#,
    ];
    for r in requests {
        writeln!(stdin, "{r}").unwrap();
    }
    stdin.flush().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut by_id = std::collections::HashMap::new();
    while by_id.len() < 3 {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("MCP response");
        let v: serde_json::Value =
            serde_json::from_str(&line).expect("stdout carries JSON-RPC only");
        if let Some(id) = v.get("id").and_then(serde_json::Value::as_u64) {
            by_id.insert(id, v);
        }
    }
    drop(stdin);
    let tools = by_id[&2]["result"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), perstack_core::config::BASE_SKILL_TOOLS.len());
    let read = by_id[&3]["result"].to_string();
    assert!(read.contains("hi there"), "{read}");
    child.kill().ok();
    child.wait().unwrap();
}

#[test]
fn skill_base_refuses_a_missing_workspace() {
    let out = perstack(&["skill", "base", "--workspace", "/nonexistent/ws"], root());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a folder"));
}
