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
        "--workspace",
        "--verbose",
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
}
