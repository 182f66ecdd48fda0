//! Stdout closed by its reader (`perstack … | head`), through the real binary: every command
//! ends quietly with 141 (128 + SIGPIPE, docs/cli.md), and `run` stops its run resumably.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::io::{BufRead, BufReader, PipeReader, PipeWriter};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use support::{Endpoint, Setup, assert_completed, job_id, text};

/// The status of a command whose stdout was closed early.
const CLOSED: i32 = 141;

fn perstack(args: &[&str], cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perstack"));
    cmd.args(args).current_dir(cwd).env_remove("PERSTACK_LOG");
    cmd
}

/// Spawns `cmd` with stdout on a pipe (returned) and stderr piped.
fn spawn_piped(cmd: &mut Command) -> (Child, PipeReader) {
    let (reader, writer): (PipeReader, PipeWriter) = std::io::pipe().unwrap();
    let child = cmd
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // The writer moved into `cmd`: drop the parent's copy with it.
    drop(std::mem::replace(cmd, Command::new("true")));
    (child, reader)
}

/// Reads the first line of stdout, then closes it (`| head -1`); returns the status and
/// stderr once the process ended.
fn head_one(mut cmd: Command) -> (Option<i32>, String, String) {
    let (child, reader) = spawn_piped(&mut cmd);
    let mut first = String::new();
    BufReader::new(reader).read_line(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), first, text(&out.stderr))
}

/// A finished job in a fresh workspace: enough events that `log` and `replay` print more
/// than a pipe holds once the reader is gone.
fn finished_job() -> (Setup, String) {
    let llm = ScriptedLlm::start(vec![Turn::text("Done.")]).unwrap();
    let setup = Setup::new();
    let done = setup.run(&Endpoint::openai(&llm.base_url), &[], "Say something");
    assert_completed(&done);
    let job = job_id(&done.events);
    (setup, job)
}

/// The reader is gone before anything is written: whatever the output's size, the first
/// write fails, deterministically.
fn closed_from_the_start(mut cmd: Command) -> (Option<i32>, String) {
    let (child, reader) = spawn_piped(&mut cmd);
    drop(reader);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out.stderr))
}

#[test]
fn informational_commands_end_quietly_with_141_when_stdout_closes() {
    let dir = tempfile::tempdir().unwrap();
    // After one line is read the rest may still fit in the pipe (64 KiB) and the read
    // buffer: 0 or 141, never noise on stderr. The cases below close the pipe first.
    let (code, first, stderr) = head_one(perstack(&["schema", "events"], dir.path()));
    assert!(!first.is_empty(), "schema events: no first line");
    assert!(
        matches!(code, Some(0) | Some(CLOSED)),
        "schema events: {code:?}"
    );
    assert_eq!(stderr, "", "schema events");
    for args in [
        &["schema", "events"][..],
        &["schema", "config"],
        &["completions", "bash"],
        &["completions", "zsh"],
    ] {
        assert_eq!(
            closed_from_the_start(perstack(args, dir.path())),
            (Some(CLOSED), String::new()),
            "{args:?}"
        );
    }
}

#[test]
fn log_and_replay_end_quietly_with_141_when_stdout_closes() {
    let (setup, job) = finished_job();
    let ws = setup.ws().to_str().unwrap().to_string();
    let log = ["log", "--job", &job, "--workspace", &ws];
    let replay = ["replay", &job, "--workspace", &ws];
    for args in [&log[..], &replay] {
        assert_eq!(
            closed_from_the_start(perstack(args, setup.ws())),
            (Some(CLOSED), String::new()),
            "{args:?}"
        );
    }
    // Read a line first, as `| head -1` does (the rest may fit in the pipe: 0 or 141).
    let (code, first, stderr) = head_one(perstack(&replay, setup.ws()));
    assert!(!first.is_empty());
    assert!(matches!(code, Some(0 | CLOSED)), "{code:?}");
    assert_eq!(stderr, "");
}

#[test]
fn a_run_whose_stdout_closes_stops_resumably_and_continue_finishes_it() {
    let llm = ScriptedLlm::start(vec![Turn::text("too late").delayed(60_000)]).unwrap();
    let setup = Setup::new();
    let endpoint = Endpoint::openai(&llm.base_url);
    let mut cmd = setup.run_command(&endpoint, &[], "Say something");
    let (child, reader) = spawn_piped(&mut cmd);
    let mut lines = BufReader::new(reader);
    let mut job = String::new();
    // Up to the generation the model holds back: the run is mid-turn.
    loop {
        let mut line = String::new();
        assert!(
            lines.read_line(&mut line).unwrap() > 0,
            "stdout ended early"
        );
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let Some(id) = event["jobId"].as_str() {
            job = id.to_string();
        }
        if event["type"] == "startGeneration" {
            break;
        }
    }
    let started = Instant::now();
    drop(lines);
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(CLOSED), "{stderr}");
    // Only the loopback provider's warning: no panic, no ERROR lines, no stop notice.
    let unexpected: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("warning: provider openai points at"))
        .collect();
    assert_eq!(unexpected, Vec::<&str>::new());
    assert_eq!(setup.job(&job)["status"], "stoppedBySignal");
    setup.assert_verified(&job);

    let llm = ScriptedLlm::start(vec![Turn::text("Said after stdout closed.")]).unwrap();
    let done = setup.run(
        &Endpoint::openai(&llm.base_url),
        &["--continue-job", &job],
        "",
    );
    assert_completed(&done);
    assert_eq!(job_id(&done.events), job);
    assert_eq!(setup.job(&job)["status"], "completed");
}

#[test]
fn debug_logs_on_a_piped_stderr_carry_no_escape_codes() {
    let (setup, job) = finished_job();
    let ws = setup.ws().to_str().unwrap().to_string();
    let out = perstack(&["log", "--job", &job, "--workspace", &ws], setup.ws())
        .env("PERSTACK_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let llm = ScriptedLlm::start(vec![Turn::text("Done.")]).unwrap();
    let mut run = setup.run_command(&Endpoint::openai(&llm.base_url), &[], "Hi");
    let run = run.env("PERSTACK_LOG", "debug").output().unwrap();
    let stderr = text(&run.stderr);
    assert!(stderr.contains("DEBUG"), "no debug logs: {stderr}");
    assert!(!stderr.contains("\x1b["), "{stderr}");
}

#[test]
fn start_whose_stdout_closes_stops_resumably_with_141() {
    let llm = ScriptedLlm::start(vec![Turn::text("too late").delayed(60_000)]).unwrap();
    let setup = Setup::new();
    let endpoint = Endpoint::openai(&llm.base_url);
    let mut cmd = setup.run_command(&endpoint, &[], "Say something");
    let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    // The same flags, under `start`.
    let mut start = Command::new(env!("CARGO_BIN_EXE_perstack"));
    start
        .arg("start")
        .args(&args[1..])
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(setup.ws());
    drop(std::mem::replace(&mut cmd, Command::new("true")));
    let (child, reader) = spawn_piped(&mut start);
    let mut first = String::new();
    BufReader::new(reader).read_line(&mut first).unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(CLOSED), "{}", text(&out.stderr));
    let jobs = std::fs::read_dir(setup.ws().join("perstack/jobs")).unwrap();
    for j in jobs {
        let job = j.unwrap().file_name().to_string_lossy().into_owned();
        assert_eq!(setup.job(&job)["status"], "stoppedBySignal");
    }
}
