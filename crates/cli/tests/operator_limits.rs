//! Operator limits the model and bad input files cannot get around: the limit on one tool
//! call (`--max-tool-time`, `maxToolCallSeconds`), and config, env files and lockfile that
//! are devices, FIFOs or huge. Every process is waited on with a deadline, so a hang fails
//! the test instead of blocking it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(20);

const DEMO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/demo/perstack.toml"
);

/// Runs perstack with `args` (the scripted model's URL and a dummy key in its environment
/// only), killing it and failing if it takes longer than `DEADLINE`.
fn perstack(base_url: &str, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(args)
        .env_remove("PERSTACK_LOG")
        .env_remove("PERSTACK_CONFIG")
        .env_remove("PERSTACK_STATE_DIR")
        .env("OPENAI_BASE_URL", base_url)
        .env("OPENAI_API_KEY", "scripted-key-not-a-secret")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "perstack {args:?} still running after {DEADLINE:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    (child.wait_with_output().unwrap(), took)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// A copy of the demo config with `extra` top-level lines, in a fresh folder.
fn config_with(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("perstack.toml");
    let demo = std::fs::read_to_string(DEMO).unwrap();
    std::fs::write(&path, format!("{extra}\n{demo}")).unwrap();
    (dir, path)
}

fn run_args<'a>(config: &'a str, workspace: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--config",
        config,
        "--workspace",
        workspace,
        "--provider",
        "openai",
        "--model",
        "scripted-model",
    ]
}

#[test]
fn validate_refuses_dev_zero_as_config_at_once() {
    let (out, took) = perstack("http://127.0.0.1:9", &["validate", "--config", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "/dev/zero is a character device, not a regular file; point the config file at a \
             regular file"
        ),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn run_refuses_a_fifo_config_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("perstack.toml");
    mkfifo(&fifo);
    let (fifo_s, ws_s) = (fifo.display().to_string(), dir.path().display().to_string());
    let mut args = run_args(&fifo_s, &ws_s);
    args.extend(["greeter", "hello"]);
    let (out, took) = perstack("http://127.0.0.1:9", &args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "{fifo_s} is a FIFO (named pipe), not a regular file; point the config file at a \
             regular file"
        )),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn run_refuses_env_files_that_are_fifos_or_devices() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.env");
    mkfifo(&fifo);
    let ws_s = dir.path().display().to_string();
    for (env_path, what) in [
        (fifo.display().to_string(), "a FIFO (named pipe)"),
        ("/dev/zero".to_string(), "a character device"),
    ] {
        let mut args = run_args(DEMO, &ws_s);
        args.extend(["--env-path", &env_path, "greeter", "hello"]);
        let (out, took) = perstack("http://127.0.0.1:9", &args);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "{env_path} is {what}, not a regular file; point the env file at a regular file"
            )),
            "{}",
            stderr(&out)
        );
        assert!(took < Duration::from_secs(5), "{env_path} took {took:?}");
    }
}

#[test]
fn run_refuses_a_huge_lockfile_and_one_that_is_a_device() {
    let (dir, config) = config_with("");
    let lock = dir.path().join("perstack.lock");
    // Sparse: 64 MiB by its size, no disk used.
    std::fs::File::create(&lock)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let ws = tempfile::tempdir().unwrap();
    let (config_s, ws_s) = (
        config.display().to_string(),
        ws.path().display().to_string(),
    );
    let mut args = run_args(&config_s, &ws_s);
    args.extend(["greeter", "hello"]);
    let (out, took) = perstack("http://127.0.0.1:9", &args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is larger than 4194304 bytes, the most a lockfile may be"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");

    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &lock).unwrap();
    let (out, took) = perstack("http://127.0.0.1:9", &args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is a character device, not a regular file; point the lockfile"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// The text the model reads when a call hits the operator's limit of `secs` seconds.
fn cap_text(secs: u64) -> String {
    format!(
        "the operator limits each tool call to {secs} s (--max-tool-time / maxToolCallSeconds), \
         and a call cannot raise that limit"
    )
}

/// Runs one `exec` of `sleep 30` asking for an enormous timeout, then completes; returns the
/// tool result the model read and how long the run took.
fn exec_sleep_under(extra_config: &str, flags: &[&str]) -> (String, Duration) {
    let llm = ScriptedLlm::start(vec![
        Turn::call(
            "exec",
            json!({"command": "sleep", "args": ["30"], "env": {}, "cwd": ".",
                   "stdout": true, "stderr": true, "timeout": 999_999_999u64}),
        ),
        Turn::call("attemptCompletion", json!({})),
        Turn::text("done"),
    ])
    .unwrap();
    let (dir, config) = config_with(extra_config);
    let (config_s, ws_s) = (
        config.display().to_string(),
        dir.path().display().to_string(),
    );
    let mut args = run_args(&config_s, &ws_s);
    args.extend(flags);
    args.extend(["greeter", "sleep for a long time"]);
    let (out, took) = perstack(&llm.base_url, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The second request carries the exec result.
    let second = llm.requests().get(1).cloned().unwrap();
    (second.to_string(), took)
}

#[test]
fn exec_cannot_outlast_the_operator_limit_from_the_flag() {
    let (seen, took) = exec_sleep_under("", &["--max-tool-time", "1"]);
    assert!(seen.contains("Command timed out after 1000ms"), "{seen}");
    assert!(seen.contains(&cap_text(1)), "{seen}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn the_config_key_sets_the_limit_and_the_flag_overrides_it() {
    let (seen, _) = exec_sleep_under("maxToolCallSeconds = 1", &[]);
    assert!(seen.contains(&cap_text(1)), "{seen}");
    let (seen, _) = exec_sleep_under("maxToolCallSeconds = 1", &["--max-tool-time", "2"]);
    assert!(seen.contains(&cap_text(2)), "{seen}");
}

#[test]
fn a_zero_limit_is_refused() {
    let (out, _) = perstack(
        "http://127.0.0.1:9",
        &["run", "--max-tool-time", "0", "greeter", "hello"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-tool-time"), "{}", stderr(&out));
}
