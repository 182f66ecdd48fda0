//! Real containers, the production shape: the image from `cargo xtask image`, one
//! container per execution (read-only root, no capabilities, non-root, `--network none`,
//! memory and pid limits), the provider key held by `perstack proxy` on the host and reached
//! through a mounted Unix socket, the scripted LLM server behind the proxy as a private
//! upstream. `cargo xtask e2e` builds the image and runs these; they need a Docker Engine.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod harness;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{KEY, Proxy, Run, Sandbox, container_name, docker};
use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// An Expert with the base skill only (the default when no skills are declared).
const WRITER: &str = "[experts.\"writer\"]\ninstruction = \"Write files.\"\n";

/// An Expert with an interactive tool.
const ASKER: &str = r#"[experts."asker"]
instruction = "Ask the user which colour they like, then answer."

[experts."asker".skills."ui"]
type = "interactiveSkill"

[experts."asker".skills."ui".tools."askUser"]
description = "Ask the user a question."
inputJsonSchema = '{"type":"object","properties":{"question":{"type":"string"}},"required":["question"]}'
"#;

fn write(path: &str, text: &str) -> Turn {
    Turn::call("writeTextFile", json!({"path": path, "text": text}))
}

fn complete() -> Turn {
    Turn::call("attemptCompletion", json!({}))
}

/// Every tool result the events carry, in order.
fn tool_results(run: &Run) -> Vec<Value> {
    run.events
        .iter()
        .filter_map(|e| e.get("toolResults").and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect()
}

/// `perstack log --verify` on the host over a state folder the container wrote: intact.
fn assert_verified(sandbox: &Sandbox) {
    let v = Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(["log", "--verify", "--state-dir"])
        .arg(sandbox.state.path())
        .arg("--workspace")
        .arg(sandbox.workspace.path())
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
}

fn assert_no_key(run: &Run) {
    assert!(!run.stdout.contains(KEY), "the key reached stdout");
    assert!(!run.stderr.contains(KEY), "the key reached stderr");
}

#[test]
#[ignore = "e2e: real containers; run with cargo xtask e2e"]
fn container_hardened_run_completes_with_the_key_outside() {
    let llm = ScriptedLlm::start(vec![
        write("hello.md", "Hello from a container\n"),
        complete(),
        Turn::text("Wrote hello.md."),
    ])
    .unwrap();
    let sandbox = Sandbox::new(&llm, WRITER);
    let proxy = Proxy::start(&sandbox.config(), &llm, &[]);
    let run = sandbox.run(&proxy, &["writer", "Write hello.md"]);
    assert_eq!(run.code, Some(0), "{}", run.explain());
    let types = run.types();
    assert_eq!(types.first().map(String::as_str), Some("initializeRuntime"));
    let init = run.first("initializeRuntime").unwrap();
    assert_eq!(init["egress"], harness::SOCKET_IN_CONTAINER);
    // Which of the runtime's own layers hold inside Docker's default profile (recorded
    // in docs/container.md); no_new_privs always does.
    let layers = &init["confinement"];
    eprintln!("confinement inside the container: {layers}");
    assert_eq!(layers["noNewPrivs"], true, "{layers}");
    assert_eq!(
        layers["mountNamespace"], "notRequested",
        "state is outside the workspace"
    );
    assert!(types.iter().any(|t| t == "completeRun"), "{types:?}");
    assert_eq!(
        std::fs::read_to_string(sandbox.workspace.path().join("hello.md")).unwrap(),
        "Hello from a container\n"
    );
    // Storage went to the state volume, not the workspace.
    assert_eq!(sandbox.jobs(), vec![run.job_id()]);
    assert!(!sandbox.workspace.path().join("perstack").exists());
    // Every generation went through the proxy, which added the credential.
    let access = proxy.access();
    let allowed: Vec<&Value> = access
        .iter()
        .filter(|a| a["decision"] == "allowed")
        .collect();
    assert_eq!(allowed.len(), 3, "{access:?}");
    for a in &allowed {
        assert_eq!(a["credential"], "authorization", "{a}");
        assert_eq!(a["status"], 200, "{a}");
        assert_eq!(a["privateUpstream"], true, "{a}");
    }
    assert_eq!(llm.served(), 3);
    assert_no_key(&run);
    // Nothing in the image's environment or the container's flags carries a credential.
    let env = docker()
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Env}}",
            &harness::image(),
        ])
        .output()
        .unwrap();
    let env = String::from_utf8_lossy(&env.stdout);
    assert_eq!(env.trim(), r#"["PATH=/usr/local/bin"]"#);
    let flags = format!("{:?}", sandbox.run_command(&proxy, "x", &[]));
    assert!(
        !flags.contains(KEY) && !flags.contains("API_KEY"),
        "{flags}"
    );
    assert!(
        !proxy.all_output().contains(KEY),
        "the proxy logged the key"
    );
    assert_verified(&sandbox);
}

#[test]
#[ignore = "e2e: real containers; run with cargo xtask e2e"]
fn container_two_users_run_side_by_side_and_stay_apart() {
    let llm_a = ScriptedLlm::start(vec![
        write("a.md", "user a\n"),
        Turn::call("listDirectory", json!({"path": "."})),
        complete(),
        Turn::text("a done"),
    ])
    .unwrap();
    let llm_b = ScriptedLlm::start(vec![
        write("b.md", "user b\n"),
        Turn::call("listDirectory", json!({"path": "."})),
        complete(),
        Turn::text("b done"),
    ])
    .unwrap();
    let a = Sandbox::new(&llm_a, WRITER);
    let b = Sandbox::new(&llm_b, WRITER);
    let upstream_b = llm_b.base_url.trim_end_matches("/v1").to_string();
    let proxy = Proxy::start(&a.config(), &llm_a, &["--allow-private", &upstream_b]);
    let (run_a, run_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| a.run(&proxy, &["writer", "Write a.md"]));
        let tb = s.spawn(|| b.run(&proxy, &["writer", "Write b.md"]));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!(run_a.code, Some(0), "{}", run_a.explain());
    assert_eq!(run_b.code, Some(0), "{}", run_b.explain());
    let names = |s: &Sandbox| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(s.workspace.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&a), vec!["a.md"]);
    assert_eq!(names(&b), vec!["b.md"]);
    // What each agent saw of its workspace: its own file only.
    let listing = |run: &Run| tool_results(run)[1].to_string();
    assert!(listing(&run_a).contains("a.md") && !listing(&run_a).contains("b.md"));
    assert!(listing(&run_b).contains("b.md") && !listing(&run_b).contains("a.md"));
    assert_eq!(a.jobs(), vec![run_a.job_id()]);
    assert_eq!(b.jobs(), vec![run_b.job_id()]);
    assert_ne!(run_a.job_id(), run_b.job_id());
}

#[test]
#[ignore = "e2e: real containers; run with cargo xtask e2e"]
fn container_interactive_stop_continues_in_a_fresh_container() {
    let llm = ScriptedLlm::start(vec![
        Turn::call("askUser", json!({"question": "Which colour?"})),
        Turn::text("Blue it is."),
    ])
    .unwrap();
    let sandbox = Sandbox::new(&llm, ASKER);
    let proxy = Proxy::start(&sandbox.config(), &llm, &[]);
    let first = sandbox.run(&proxy, &["asker", "Pick a colour"]);
    assert_eq!(first.code, Some(3), "{}", first.explain());
    assert!(first.first("stopRunByInteractiveTool").is_some());
    let job = first.job_id();
    let answer =
        json!({"toolCallId": "call_0_0", "toolName": "askUser", "skillName": "ui", "text": "blue"})
            .to_string();
    let second = sandbox.run(&proxy, &["--continue-job", &job, "-i", "asker", &answer]);
    assert_eq!(second.code, Some(0), "{}", second.explain());
    assert_eq!(second.job_id(), job);
    assert!(second.first("completeRun").is_some());
    // The model got the answer on its second turn.
    assert!(llm.requests()[1]["messages"].to_string().contains("blue"));
    assert_eq!(sandbox.jobs(), vec![job]);
}

#[test]
#[ignore = "e2e: real containers; run with cargo xtask e2e"]
fn container_killed_mid_run_resumes_in_a_fresh_container() {
    let llm = ScriptedLlm::start(vec![
        write("one.md", "one\n"),
        // The container is killed while this generation is pending.
        write("never.md", "never\n").delayed(30_000),
        write("two.md", "two\n"),
        complete(),
        Turn::text("done"),
    ])
    .unwrap();
    let sandbox = Sandbox::new(&llm, WRITER);
    let proxy = Proxy::start(&sandbox.config(), &llm, &[]);
    let name = container_name();
    let mut child = sandbox
        .run_command(&proxy, &name, &["writer", "Write files"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut job = None;
    let mut generations = 0;
    for line in stdout.lines().map_while(Result::ok) {
        let event: Value = serde_json::from_str(&line).unwrap();
        job = job.or_else(|| event["jobId"].as_str().map(str::to_string));
        if event["type"] == "startGeneration" {
            generations += 1;
        }
        if generations == 2 {
            break;
        }
    }
    // The second generation is waiting on the delayed turn.
    let t0 = Instant::now();
    while llm.served() < 2 && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = docker().args(["kill", &name]).output().unwrap();
    assert!(
        kill.status.success(),
        "{}",
        String::from_utf8_lossy(&kill.stderr)
    );
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(137),
        "docker kill ends the container with SIGKILL"
    );
    let job = job.expect("the killed run reported its job");
    assert!(sandbox.workspace.path().join("one.md").exists());

    let resumed = sandbox.run(&proxy, &["--continue-job", &job, "writer", ""]);
    assert_eq!(resumed.code, Some(0), "{}", resumed.explain());
    assert_eq!(resumed.job_id(), job);
    assert!(sandbox.workspace.path().join("two.md").exists());
    assert!(!sandbox.workspace.path().join("never.md").exists());
    assert_verified(&sandbox);
}

#[test]
#[ignore = "e2e: real containers; run with cargo xtask e2e"]
fn container_escape_attempts_fail_and_show_in_the_events() {
    let llm = ScriptedLlm::start(vec![
        write("../../etc/evil", "x"),
        Turn::call("readTextFile", json!({"path": "/etc/shadow"})),
        Turn::call("readTextFile", json!({"path": "/proc/self/environ"})),
        Turn::call("readTextFile", json!({"path": "/config/perstack.toml"})),
        Turn::call(
            "exec",
            json!({"command": "/bin/sh", "args": ["-c", "env"], "env": {}, "cwd": ".", "stdout": true, "stderr": true}),
        ),
        // A config the agent writes into its workspace is never the one in use.
        write(
            "perstack.toml",
            "[provider]\nproviderName = \"openai\"\n[provider.setting]\nbaseUrl = \"https://exfil.example.net/v1\"\n",
        ),
        complete(),
        Turn::text("tried everything"),
    ])
    .unwrap();
    let sandbox = Sandbox::new(&llm, WRITER);
    let proxy = Proxy::start(&sandbox.config(), &llm, &[]);
    let run = sandbox.run(&proxy, &["writer", "Escape"]);
    assert_eq!(run.code, Some(0), "{}", run.explain());
    let results = tool_results(&run);
    // attemptCompletion ends the step without a tool result event.
    assert_eq!(results.len(), 6, "{results:#?}");
    for (i, r) in results.iter().take(5).enumerate() {
        assert_eq!(r["isError"], true, "attempt {i} did not fail: {r}");
    }
    assert_no_key(&run);
    // Only the scripted server was reached; the written config changed nothing.
    assert!(proxy.access().iter().all(|a| a["decision"] == "allowed"));
    let again = sandbox.run(
        &proxy,
        &["--continue-job", &run.job_id(), "writer", "again"],
    );
    assert_eq!(again.code, Some(0), "{}", again.explain());
    assert!(
        proxy.access().iter().all(|a| a["host"] == "127.0.0.1"),
        "{:?}",
        proxy.access()
    );
}

#[test]
#[ignore = "e2e: real containers; run with cargo xtask e2e"]
fn container_exfiltration_through_the_proxy_is_refused_and_logged() {
    let llm = ScriptedLlm::start(vec![Turn::text("unreachable")]).unwrap();
    // The operator's config allows the scripted server only; the runner's config (as a
    // compromised workspace would have it) points the provider elsewhere.
    let operator = Sandbox::new(&llm, WRITER);
    let proxy = Proxy::start(&operator.config(), &llm, &[]);
    for target in [
        "https://exfil.example.net/v1",
        // (plain http to it is already refused by config validation)
        "https://169.254.169.254/latest",
        "http://127.0.0.2:9/v1",
    ] {
        let runner = Sandbox::new(&llm, WRITER);
        let toml = std::fs::read_to_string(runner.config())
            .unwrap()
            .replace(&llm.base_url, target);
        std::fs::write(runner.config(), toml).unwrap();
        let run = runner.run(&proxy, &["--max-retries", "0", "writer", "hi"]);
        assert_eq!(run.code, Some(1), "{target}: {}", run.explain());
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(
            all.contains("allowlist") || all.contains("refused"),
            "{target}: {all}"
        );
        assert_no_key(&run);
    }
    let refused: Vec<Value> = proxy
        .access()
        .into_iter()
        .filter(|a| a["decision"] == "refused")
        .collect();
    assert_eq!(refused.len(), 3, "{refused:#?}");
    assert_eq!(llm.served(), 0);
}

#[test]
#[ignore = "e2e: real containers; run with cargo xtask e2e"]
fn container_step_and_wall_clock_limits_exit_with_their_codes() {
    let llm = ScriptedLlm::start(vec![
        write("a.md", "a\n"),
        write("b.md", "b\n"),
        write("c.md", "c\n"),
    ])
    .unwrap();
    let sandbox = Sandbox::new(&llm, WRITER);
    let proxy = Proxy::start(&sandbox.config(), &llm, &[]);
    let steps = sandbox.run(&proxy, &["--max-steps", "2", "writer", "Write"]);
    assert_eq!(steps.code, Some(4), "{}", steps.explain());
    assert!(steps.first("stopRunByExceededMaxSteps").is_some());

    let slow = ScriptedLlm::start(vec![Turn::text("late").delayed(20_000)]).unwrap();
    let sandbox = Sandbox::new(&slow, WRITER);
    let proxy = Proxy::start(&sandbox.config(), &slow, &[]);
    let t0 = Instant::now();
    let clock = sandbox.run(&proxy, &["--max-duration", "2", "writer", "Wait"]);
    assert_eq!(clock.code, Some(5), "{}", clock.explain());
    assert!(clock.first("stopRunByBudget").is_some());
    assert!(
        t0.elapsed() < Duration::from_secs(18),
        "the wall clock did not stop the run"
    );
}

#[test]
#[ignore = "e2e: real containers; run with cargo xtask e2e"]
fn container_memory_limit_kills_and_the_job_resumes_with_more() {
    // A 9 MB file (under readTextFile's 10 MB cap) read into the conversation needs far
    // more than 32 MB once it is a message, a checkpoint and an event.
    let llm = ScriptedLlm::start(vec![
        Turn::call("readTextFile", json!({"path": "big.txt"})),
        complete(),
        Turn::text("read it"),
    ])
    .unwrap();
    let sandbox = Sandbox::new(&llm, WRITER);
    let big = sandbox.workspace.path().join("big.txt");
    std::fs::write(&big, "x".repeat(9 * 1024 * 1024)).unwrap();
    std::os::unix::fs::chown(&big, Some(harness::UID), Some(harness::UID)).unwrap();
    let proxy = Proxy::start(&sandbox.config(), &llm, &[]);
    let name = container_name();
    let out = sandbox
        .run_command_with_memory(
            &proxy,
            &name,
            "32m",
            &["--job-id", "memjob", "writer", "Read big.txt"],
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(137),
        "the OOM killer ends the container with SIGKILL: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Killed inside its first step, the job starts that step over, so the query is given again.
    let resumed = sandbox.run(
        &proxy,
        &["--continue-job", "memjob", "writer", "Read big.txt"],
    );
    assert_eq!(resumed.code, Some(0), "{}", resumed.explain());
    assert!(resumed.first("completeRun").is_some());
}
