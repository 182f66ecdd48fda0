//! Perstack's CLI forms, end to end against the project's scripted LLM server: `-i` as a
//! boolean (the query is the answer), `--env`, `--runtime`, `log --pretty/--context/--messages
//! /--verbose`, `install --env-path` and `start` without arguments.
//!
//! The forms follow Perstack's `apps/perstack/src/{run,start,log,install}.ts` (commander
//! definitions in the public perstack-ai/perstack repository); the fixtures are ours.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output, Stdio};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// A config with an `asker` Expert (an interactive tool) and a `worker` Expert (the base
/// skill), written to `dir/perstack.toml`; returns its path.
fn write_config(dir: &Path, extra: &str) -> String {
    let path = dir.join("perstack.toml");
    std::fs::write(
        &path,
        format!(
            r#"
model = "scripted-model"

[experts."asker"]
instruction = "Ask the user which colour they like, then answer."

[experts."asker".skills."ui"]
type = "interactiveSkill"

[experts."asker".skills."ui".tools."askUser"]
description = "Ask the user a question."
inputJsonSchema = '{{"type":"object","properties":{{"question":{{"type":"string"}}}},"required":["question"]}}'

[experts."worker"]
instruction = "Use the workspace tools."
{extra}"#
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// `perstack ARGS` in `cwd`, the scripted model as the OpenAI endpoint (when given), stdin
/// closed.
fn perstack(llm: Option<&ScriptedLlm>, args: &[&str], cwd: &Path) -> Output {
    perstack_with(llm, args, cwd, &[])
}

fn perstack_with(
    llm: Option<&ScriptedLlm>,
    args: &[&str],
    cwd: &Path,
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perstack"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("PERSTACK_LOG")
        .env_remove("PERSTACK_CONFIG")
        .env_remove("PERSTACK_STATE_DIR")
        .env_remove("PERSTACK_EGRESS")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(llm) = llm {
        // Set on the child only; the key is not a secret and reaches only loopback.
        cmd.env("OPENAI_BASE_URL", &llm.base_url)
            .env("OPENAI_API_KEY", "scripted-key-not-a-secret");
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn events(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The `toolResult` text the model got on request `n` (0-based).
fn request(llm: &ScriptedLlm, n: usize) -> String {
    llm.requests()[n]["messages"].to_string()
}

/// Runs `asker` to its interactive stop (exit 3) as job `job1`; returns the config path
/// and the id of the call waiting for the answer.
fn stop_for_an_answer(llm: &ScriptedLlm, cfg: &Path, ws: &Path) -> (String, String) {
    let config = write_config(cfg, "");
    let ws_arg = ws.display().to_string();
    let out = perstack(
        Some(llm),
        &[
            "run",
            "--config",
            &config,
            "--workspace",
            &ws_arg,
            "--provider",
            "openai",
            "--job-id",
            "job1",
            "asker",
            "Pick a colour",
        ],
        ws,
    );
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    let call = events(&out)
        .iter()
        .find(|e| e["type"] == "stopRunByInteractiveTool")
        .and_then(|e| e["checkpoint"]["pendingToolCalls"][0]["id"].as_str())
        .map(str::to_string)
        .unwrap();
    (config, call)
}

fn asker_script() -> Vec<Turn> {
    vec![
        Turn::call("askUser", json!({"question": "Which colour?"})),
        Turn::text("Blue it is."),
    ]
}

/// Stops `asker` for an answer, then runs `perstack run ARGS` with `{call}` in ARGS replaced
/// by the waiting call's id, plus the config, workspace and provider; returns the scripted
/// model (to read what it was sent) and the second run's output.
fn answer(args: &[&str]) -> (ScriptedLlm, Output) {
    let llm = ScriptedLlm::start(asker_script()).unwrap();
    let (cfg, ws) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (config, call) = stop_for_an_answer(&llm, cfg.path(), ws.path());
    let ws_arg = ws.path().display().to_string();
    let mut argv: Vec<String> = args.iter().map(|a| a.replace("{call}", &call)).collect();
    for a in [
        "--config",
        &config,
        "--workspace",
        &ws_arg,
        "--provider",
        "openai",
    ] {
        argv.push(a.to_string());
    }
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = perstack(Some(&llm), &argv, ws.path());
    (llm, out)
}

#[test]
fn dash_i_makes_the_query_the_answer_as_in_perstack() {
    // Perstack's form: `perstack run expert "the answer" --continue -i` (flags after the
    // arguments), with --continue and with --continue-job; the query may be Perstack's JSON
    // form of the result. Ours: the answer after `=`, with an empty query.
    let json =
        r#"{"toolCallId":"{call}","toolName":"askUser","skillName":"ui","text":"green as JSON"}"#;
    for (args, answered) in [
        (
            &["run", "asker", "blue, said the user", "--continue", "-i"][..],
            "blue, said the user",
        ),
        (
            &["run", "asker", "blue again", "--continue-job", "job1", "-i"][..],
            "blue again",
        ),
        (
            &["run", "--continue-job", "job1", "-i", "asker", json][..],
            "green as JSON",
        ),
        (
            &[
                "run",
                "--continue-job",
                "job1",
                "--interactive-tool-call-result=red, by value",
                "asker",
                "",
            ][..],
            "red, by value",
        ),
    ] {
        let (llm, out) = answer(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(request(&llm, 1).contains(answered), "{args:?}");
        let types: Vec<String> = events(&out)
            .iter()
            .filter_map(|e| e["type"].as_str().map(str::to_string))
            .collect();
        assert!(types.contains(&"completeRun".to_string()), "{types:?}");
    }
}

#[test]
fn dash_i_misuse_is_a_usage_error_that_says_the_perstack_form() {
    let cfg = tempfile::tempdir().unwrap();
    let config = write_config(cfg.path(), "");
    for (args, says) in [
        // The old value form: `-i ANSWER EXPERT ""` is three arguments now.
        (
            &["-i", "blue", "asker", ""][..],
            "-i takes no value (as in Perstack): the query is the answer",
        ),
        // A value and a query: one of them would be ignored.
        (
            &[
                "--continue-job",
                "nojob",
                "--interactive-tool-call-result=blue",
                "asker",
                "a query",
            ][..],
            "pass the answer once",
        ),
        // Nothing to answer.
        (
            &["-i", "asker", "blue"][..],
            "-i needs --continue or --continue-job",
        ),
    ] {
        let mut argv = vec!["run", "--config", &config];
        argv.extend_from_slice(args);
        let out = perstack(None, &argv, cfg.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

/// `perstack run --config C --workspace W --provider openai ARGS worker QUERY` in `ws`.
fn run_worker(
    llm: &ScriptedLlm,
    config: &str,
    ws: &Path,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let ws_arg = ws.display().to_string();
    let mut args = vec![
        "run",
        "--config",
        config,
        "--workspace",
        &ws_arg,
        "--provider",
        "openai",
    ];
    args.extend_from_slice(flags);
    args.extend(["worker", "Show the environment"]);
    perstack_with(Some(llm), &args, ws, env)
}

#[test]
fn env_passes_named_and_given_variables_to_exec_children_only_when_asked() {
    let llm = ScriptedLlm::start(vec![
        Turn::call(
            "exec",
            json!({"command": "env", "args": [], "env": {}, "cwd": ".", "stdout": true, "stderr": true}),
        ),
        Turn::text("Shown."),
    ])
    .unwrap();
    let (cfg, ws) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = write_config(cfg.path(), "");
    let out = run_worker(
        &llm,
        &config,
        ws.path(),
        // Perstack's form (a name: the value comes from the environment) and ours (a pair);
        // --runtime local is the default, accepted explicitly.
        &[
            "--env",
            "FROM_HOST",
            "--env",
            "GIVEN=given-by-flag",
            "--runtime",
            "local",
        ],
        &[
            ("FROM_HOST", "host-side value"),
            ("NOT_PASSED", "stays home"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let seen = request(&llm, 1);
    assert!(seen.contains("FROM_HOST=host-side value"), "{seen}");
    assert!(seen.contains("GIVEN=given-by-flag"), "{seen}");
    assert!(!seen.contains("NOT_PASSED"), "{seen}");
    // Held like requiredEnv values: redacted in the events (stdout and storage).
    let events = stdout(&out);
    assert!(events.contains("GIVEN="), "{events}");
    assert!(
        !events.contains("given-by-flag") && !events.contains("host-side value"),
        "{events}"
    );
}

#[test]
fn env_refuses_unset_protected_and_provider_key_names_before_any_event() {
    let (cfg, ws) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = write_config(cfg.path(), "");
    let llm = ScriptedLlm::start(vec![]).unwrap();
    for (flag, says) in [
        ("NOT_SET_ANYWHERE", "NOT_SET_ANYWHERE is not set"),
        (
            "OPENAI_API_KEY",
            "provider credentials never enter a child process",
        ),
        ("LD_PRELOAD=/x.so", "controls how programs load code"),
        ("A-B=1", "expected NAME or NAME=VALUE"),
    ] {
        let out = run_worker(&llm, &config, ws.path(), &["--env", flag], &[]);
        assert_eq!(out.status.code(), Some(2), "{flag}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{flag}");
        assert!(stderr(&out).contains(says), "{flag}: {}", stderr(&out));
    }
    assert_eq!(llm.served(), 0);
}

#[test]
fn runtime_docker_and_external_adapters_are_refused_with_what_to_run_instead() {
    let (cfg, ws) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = write_config(cfg.path(), "");
    let llm = ScriptedLlm::start(vec![]).unwrap();
    let out = run_worker(
        &llm,
        &config,
        ws.path(),
        &[
            "--runtime",
            "docker",
            "--env",
            "REGION=eu",
            "--state-dir",
            "/var/lib/perstack-state",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    for part in [
        "--runtime docker: this binary does not start containers itself",
        "--network none",
        "--cap-drop ALL",
        "-e OPENAI_API_KEY",
        "-e REGION=eu",
        "PERSTACK_EGRESS=unix:///run/perstack/egress.sock",
        "perstack:latest --config /config/perstack.toml worker 'Show the environment'",
        "cargo xtask image",
        "-v /var/lib/perstack-state:/state -e PERSTACK_STATE_DIR=/state",
        "chown 10001:10001",
    ] {
        assert!(err.contains(part), "lacks {part:?}: {err}");
    }
    for runtime in ["cursor", "claude-code", "gemini"] {
        let out = run_worker(&llm, &config, ws.path(), &["--runtime", runtime], &[]);
        assert_eq!(out.status.code(), Some(2), "{runtime}");
        assert!(
            stderr(&out).contains("external agent adapters"),
            "{runtime}: {}",
            stderr(&out)
        );
    }
    let out = run_worker(&llm, &config, ws.path(), &["--runtime", "kubernetes"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("possible values: local, docker"),
        "{}",
        stderr(&out)
    );
    assert_eq!(llm.served(), 0, "nothing ran");
    assert!(!ws.path().join("perstack").exists(), "nothing stored");
}

fn tools_dir() -> std::path::PathBuf {
    match std::env::var_os("PERSTACK_TOOLS_DIR") {
        Some(dir) => dir.into(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools"),
    }
}

#[test]
#[ignore = "peer: @modelcontextprotocol/server-everything (npm); run with cargo xtask test"]
fn env_reaches_a_stdio_skill() {
    let tools = tools_dir();
    let node = tools.join("npm/node_modules/.bin/node");
    let server =
        tools.join("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        node.exists() && server.exists(),
        "peer missing: server-everything and node (see xtask/peers.toml)"
    );
    let skill = format!(
        r#"
[experts."worker".skills."everything"]
type = "mcpStdioSkill"
command = "{}"
args = ["{}", "stdio"]
pick = ["get-env"]
"#,
        node.display(),
        server.display()
    );
    let llm =
        ScriptedLlm::start(vec![Turn::call("get-env", json!({})), Turn::text("Shown.")]).unwrap();
    let (cfg, ws) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = write_config(cfg.path(), &skill);
    let out = run_worker(
        &llm,
        &config,
        ws.path(),
        &["--env", "FOO=bar"],
        &[("NOT_PASSED", "stays home")],
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let seen = request(&llm, 1);
    assert!(seen.contains(r#"\"FOO\": \"bar\""#), "{seen}");
    assert!(!seen.contains("NOT_PASSED"), "{seen}");
}

/// A model that has the worker `exec` `echo hi` and answer, with a config folder, a
/// workspace and the config's path.
fn said_hi() -> (ScriptedLlm, tempfile::TempDir, tempfile::TempDir, String) {
    let llm = ScriptedLlm::start(vec![
        Turn::call(
            "exec",
            json!({"command": "echo", "args": ["hi"], "env": {}, "cwd": ".", "stdout": true, "stderr": true}),
        ),
        Turn::text("Said hi."),
    ])
    .unwrap();
    let (cfg, ws) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = write_config(cfg.path(), "");
    (llm, cfg, ws, config)
}

/// A completed job `job1` in a fresh workspace: the worker runs one `exec` and answers.
fn recorded_job() -> tempfile::TempDir {
    let (llm, _cfg, ws, config) = said_hi();
    let out = run_worker(&llm, &config, ws.path(), &["--job-id", "job1"], &[]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    ws
}

fn log(ws: &Path, args: &[&str]) -> String {
    let mut argv = vec!["log", "--job", "job1"];
    argv.extend_from_slice(args);
    let out = perstack(None, &argv, ws);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn log_messages_context_verbose_and_pretty() {
    let ws = recorded_job();
    let ws = ws.path();

    // --messages: the conversation of the job's latest checkpoint (or of --checkpoint).
    let messages = log(ws, &["--messages", "--type", "completeRun"]);
    for part in [
        "messages of checkpoint",
        "[userMessage] Show the environment",
        r#"call exec({"#,
        "[toolMessage] result exec:",
        "[expertMessage] Said hi.",
    ] {
        assert!(messages.contains(part), "lacks {part:?}:\n{messages}");
    }
    let plain = log(ws, &["--type", "completeRun"]);
    assert!(!plain.contains("messages of checkpoint"), "{plain}");

    // --context N: each match with the N events around it.
    let matched = log(ws, &["--type", "callTools"]);
    let with_context = log(ws, &["--type", "callTools", "--context", "1"]);
    let event_lines = |s: &str| s.lines().filter(|l| l.starts_with('[')).count();
    assert_eq!(event_lines(&matched), 1, "{matched}");
    assert_eq!(event_lines(&with_context), 3, "{with_context}");
    assert!(
        with_context.contains("(+2 events of context)"),
        "{with_context}"
    );

    // --verbose: every field of each event.
    let verbose = log(ws, &["--type", "callTools", "--verbose"]);
    assert!(!matched.contains(r#""toolName":"exec""#), "{matched}");
    assert!(verbose.contains(r#""toolName":"exec""#), "{verbose}");
    assert!(verbose.contains(r#""args":["hi"]"#), "{verbose}");

    // --json is one line, --pretty indents the same value (and implies --json).
    let compact = log(ws, &["--json"]);
    let pretty = log(ws, &["--pretty"]);
    assert_eq!(compact.trim_end().lines().count(), 1);
    assert!(pretty.lines().count() > 10);
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    assert_eq!(parse(&compact), parse(&pretty));
    let with_history = parse(&log(ws, &["--json", "--messages"]));
    assert!(
        with_history["checkpoint"]["messages"]
            .as_array()
            .unwrap()
            .len()
            >= 3,
        "{with_history}"
    );
}

#[test]
fn install_env_path_gives_the_skills_their_required_env() {
    let (cfg, ws) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A real stdio MCP server: this binary's base skill, which needs INSTALL_TOKEN.
    let skill = format!(
        r#"
[experts."worker".skills."files"]
type = "mcpStdioSkill"
command = "{}"
args = ["skill", "base", "--workspace", "{}"]
requiredEnv = ["INSTALL_TOKEN"]
"#,
        env!("CARGO_BIN_EXE_perstack"),
        ws.path().display()
    );
    let config = write_config(cfg.path(), &skill);
    std::fs::write(cfg.path().join("custom.env"), "INSTALL_TOKEN=from-file\n").unwrap();
    let ws_arg = ws.path().display().to_string();
    let install = ["install", "--config", &config, "--workspace", &ws_arg];
    let out = perstack(None, &install, cfg.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("INSTALL_TOKEN"), "{}", stderr(&out));
    assert!(!cfg.path().join("perstack.lock").exists());

    let mut with_file = install.to_vec();
    with_file.extend(["--env-path", "custom.env"]);
    let out = perstack(None, &with_file, cfg.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lock = std::fs::read_to_string(cfg.path().join("perstack.lock")).unwrap();
    assert!(lock.contains("readTextFile"), "{lock}");
}

/// `perstack start ARGS --config C --workspace W --provider openai` with stdin closed.
fn start(llm: Option<&ScriptedLlm>, config: &str, ws: &Path, args: &[&str]) -> Output {
    let ws_arg = ws.display().to_string();
    let mut argv = vec!["start"];
    argv.extend_from_slice(args);
    argv.extend([
        "--config",
        config,
        "--workspace",
        &ws_arg,
        "--provider",
        "openai",
    ]);
    perstack(llm, &argv, ws)
}

#[test]
fn start_off_a_terminal_names_the_missing_argument() {
    let (cfg, ws) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = write_config(cfg.path(), "");
    for (args, says) in [
        (
            &[][..],
            "missing EXPERT_KEY: stdin is not a terminal, so start cannot ask for it; pass it: \
             perstack start EXPERT \"QUERY\" (Experts in perstack.toml: asker, worker)",
        ),
        (
            &["worker"][..],
            "missing QUERY: stdin is not a terminal, so start cannot ask for it; pass it: \
             perstack start worker \"QUERY\"",
        ),
        (
            &["--no-prompt", "worker"][..],
            "missing QUERY: --no-prompt is given",
        ),
    ] {
        let out = start(None, &config, ws.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stdout(&out), "", "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn start_continuing_a_job_takes_its_expert_and_needs_no_query() {
    let (llm, _cfg, ws, config) = said_hi();
    let out = run_worker(
        &llm,
        &config,
        ws.path(),
        &["--job-id", "job1", "--max-steps", "1"],
        &[],
    );
    assert_eq!(out.status.code(), Some(4), "stderr: {}", stderr(&out));
    let out = start(
        Some(&llm),
        &config,
        ws.path(),
        &["--continue-job", "job1", "--max-steps", "5"],
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(
        stdout(&out).contains("worker completed"),
        "{}",
        stdout(&out)
    );
    // With -i the answer is needed, and off a terminal it cannot be asked for.
    let out = start(None, &config, ws.path(), &["--continue-job", "job1", "-i"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("missing QUERY: stdin is not a terminal, so start cannot ask for it; pass it: perstack start worker \"ANSWER\""),
        "{}",
        stderr(&out)
    );
}

/// `perstack start ARGS --config C --workspace W --provider openai` with a terminal (a
/// pseudo-terminal) as stdin, `typed` typed ahead into it.
fn start_on_a_terminal(
    llm: &ScriptedLlm,
    config: &str,
    ws: &Path,
    args: &[&str],
    typed: &str,
) -> Output {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    use std::io::Write;

    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let mut master = std::fs::File::from(master);
    let child = Command::new(env!("CARGO_BIN_EXE_perstack"))
        .arg("start")
        .args(args)
        .args(["--config", config, "--workspace"])
        .arg(ws)
        .args(["--provider", "openai"])
        .current_dir(ws)
        .env_remove("PERSTACK_LOG")
        .env("OPENAI_BASE_URL", &llm.base_url)
        .env("OPENAI_API_KEY", "scripted-key-not-a-secret")
        .stdin(Stdio::from(terminal))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Typed ahead: the terminal hands the program one line per read.
    master.write_all(typed.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    drop(master);
    out
}

#[test]
fn start_on_a_terminal_asks_for_the_expert_and_the_query() {
    let llm = ScriptedLlm::start(vec![Turn::text("Hello there.")]).unwrap();
    let (cfg, ws) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = write_config(cfg.path(), "");
    // "9" is no Expert.
    let out = start_on_a_terminal(&llm, &config, ws.path(), &[], "9\nworker\nSay hello\n");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for part in [
        "Experts in ",
        "  1. asker\n  2. worker\n",
        "expert (number or key) > no Expert \"9\": type a number from 1 to 2 or a key",
        "query > ",
    ] {
        assert!(err.contains(part), "lacks {part:?}: {err}");
    }
    assert!(request(&llm, 0).contains("Say hello"));
    assert!(
        stdout(&out).contains("worker completed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn start_on_a_terminal_asks_for_the_answer_with_dash_i() {
    let llm = ScriptedLlm::start(asker_script()).unwrap();
    let (cfg, ws) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (config, _) = stop_for_an_answer(&llm, cfg.path(), ws.path());
    let out = start_on_a_terminal(
        &llm,
        &config,
        ws.path(),
        &["--continue-job", "job1", "-i"],
        "teal, typed\n",
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("answer > "), "{err}");
    assert!(
        !err.contains("Experts in"),
        "the job's Expert is used: {err}"
    );
    assert!(request(&llm, 1).contains("teal, typed"));
}

#[test]
fn help_teaches_the_perstack_forms_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    let help = |command: &str| {
        let mut argv: Vec<&str> = command.split(' ').collect();
        argv.push("--help");
        let out = perstack(None, &argv, dir.path());
        assert_eq!(out.status.code(), Some(0), "{command}");
        stdout(&out)
    };
    for (command, parts) in [
        (
            "start",
            &[
                "[EXPERT_KEY] [QUERY]",
                "Arguments left out (as in Perstack",
                "perstack start writer\n",
                "perstack start --continue-job JOB -i",
                "--env <NAME[=VALUE]>",
                "--runtime <RUNTIME>",
            ][..],
        ),
        (
            "log",
            &[
                "--pretty",
                "--context <N>",
                "--messages",
                "--verbose",
                "perstack log --errors --context 2",
                "perstack log --checkpoint CP --messages",
            ][..],
        ),
        (
            "install",
            &[
                "--env-path <PATH>",
                "perstack install --env-path .env.production",
            ][..],
        ),
    ] {
        let text = help(command);
        for part in parts {
            assert!(
                text.contains(part),
                "{command} --help lacks {part:?}:\n{text}"
            );
        }
    }
}
