//! SIGTERM/SIGINT through the real binary: a signal mid-generation or mid-tool stops the run
//! with a resumable checkpoint (exit 143/130, `stopRunBySignal` last), `--continue-job`
//! finishes the job, and a second signal exits at once.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use perstack_testkit::{Finished, ScriptedLlm, Signal, Turn};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::{Endpoint, Setup, assert_completed, job_id, run_event_types};

/// Held back far longer than any test waits: the signal always lands mid-generation.
const HELD_MS: u64 = 60_000;

fn stopped_by(f: &Finished, code: i32) {
    assert_eq!(
        f.code(),
        Some(code),
        "stderr: {}\nevents: {:?}",
        f.stderr,
        f.types()
    );
    assert_eq!(
        run_event_types(&f.events).last().map(String::as_str),
        Some("stopRunBySignal"),
        "{:?}",
        f.types()
    );
}

fn resume(setup: &Setup, job: &str, script: Vec<Turn>) -> Finished {
    let llm = ScriptedLlm::start(script).unwrap();
    setup.run(
        &Endpoint::openai(&llm.base_url),
        &["--continue-job", job],
        "",
    )
}

#[test]
fn sigterm_mid_generation_stops_resumably_and_continue_finishes() {
    let llm = ScriptedLlm::start(vec![Turn::text("too late").delayed(HELD_MS)]).unwrap();
    let setup = Setup::new();
    let run = setup.spawn(&Endpoint::openai(&llm.base_url), &[], "Say something");
    assert!(run.wait_for_event("startGeneration"), "{}", run.stderr());
    run.signal(Signal::TERM).unwrap();
    let stopped = run.finish().unwrap();
    stopped_by(&stopped, 143);
    assert!(
        stopped.stderr.contains("SIGTERM: stopping"),
        "{}",
        stopped.stderr
    );
    let stop = stopped
        .events
        .iter()
        .find(|e| e["type"] == "stopRunBySignal")
        .unwrap();
    assert_eq!(stop["checkpoint"]["status"], "stoppedBySignal");
    let job = job_id(&stopped.events);
    setup.assert_verified(&job);
    assert_eq!(setup.job(&job)["status"], "stoppedBySignal");

    let done = resume(&setup, &job, vec![Turn::text("Said after the signal.")]);
    assert_completed(&done);
    assert_eq!(job_id(&done.events), job);
    assert_eq!(
        run_event_types(&done.events),
        ["startRun", "startGeneration", "completeRun"]
    );
    // A blank query continues without adding a message.
    let start = done
        .events
        .iter()
        .find(|e| e["type"] == "startRun")
        .unwrap();
    assert_eq!(start["inputMessages"], json!([]), "{start:#}");
    setup.assert_verified(&job);
    assert_eq!(setup.job(&job)["status"], "completed");
}

/// `exec` of a shell that marks that it started, then sleeps; when run again (on resume) it
/// finds the mark and returns at once.
fn long_exec() -> Turn {
    Turn::call(
        "exec",
        json!({
            "command": "sh",
            "args": ["-c", "if [ -e started ]; then echo resumed; else touch started; exec sleep 90; fi"],
            "env": {},
            "cwd": ".",
            "stdout": true,
            "stderr": true,
            "timeout": 120000,
        }),
    )
}

/// One line per event: its type, plus the tool names it carries (ids and timestamps left
/// out, so the snapshot holds only what must not change).
fn outline(events: &[Value]) -> String {
    let mut out = String::new();
    for e in events {
        let ty = e["type"].as_str().unwrap_or("?");
        let mut line = ty.to_string();
        if let Some(step) = e["stepNumber"].as_u64() {
            line = format!("#{step} {line}");
        }
        let calls = match ty {
            "callTools" => e["toolCalls"].as_array(),
            "stopRunBySignal" => e["checkpoint"]["pendingToolCalls"].as_array(),
            "resolveToolResults" => e["toolResults"].as_array(),
            _ => None,
        };
        if let Some(calls) = calls {
            let names: Vec<&str> = calls
                .iter()
                .filter_map(|c| c["toolName"].as_str())
                .collect();
            line.push_str(&format!(" [{}]", names.join(", ")));
        }
        if ty.starts_with("skill") {
            line.push_str(&format!(" {}", e["skillName"].as_str().unwrap_or("?")));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn sigterm_mid_tool_stops_resumably_and_continue_reruns_the_call() {
    let llm = ScriptedLlm::start(vec![long_exec()]).unwrap();
    let setup = Setup::new();
    let run = setup.spawn(
        &Endpoint::openai(&llm.base_url),
        &[],
        "Run the long command",
    );
    // The command is running once it has left its mark.
    let mark = setup.ws().join("started");
    assert!(
        run.wait_until(perstack_testkit::PATIENCE, |_| mark.exists()),
        "the command never started: {}",
        run.stderr()
    );
    run.signal(Signal::TERM).unwrap();
    let stopped = run.finish().unwrap();
    stopped_by(&stopped, 143);
    let stop = stopped
        .events
        .iter()
        .find(|e| e["type"] == "stopRunBySignal")
        .unwrap();
    assert_eq!(
        stop["checkpoint"]["pendingToolCalls"][0]["toolName"], "exec",
        "{stop:#}\n{}",
        stopped.stderr
    );
    let job = job_id(&stopped.events);
    setup.assert_verified(&job);

    let done = resume(&setup, &job, vec![Turn::text("The command finished.")]);
    assert_completed(&done);
    let rerun = done
        .events
        .iter()
        .find(|e| e["type"] == "resolveToolResults")
        .unwrap();
    assert!(rerun.to_string().contains("resumed"), "{rerun}");
    setup.assert_verified(&job);
    insta::assert_snapshot!(
        "sigterm_mid_tool_then_resume",
        format!(
            "-- run stopped by SIGTERM (exit 143)\n{}-- run --continue-job (exit 0)\n{}",
            outline(&stopped.events),
            outline(&done.events)
        )
    );
}

/// The config with the base skill served by a stdio process that ignores SIGTERM and lingers
/// after stdin closes, so shutting the run down takes the host's whole SIGTERM-to-SIGKILL
/// grace: the window in which a second signal must exit at once.
fn slow_to_stop_config(setup: &Setup) -> String {
    let bin = env!("CARGO_BIN_EXE_perstack");
    let script = format!(
        "echo $$ > skill.pid; trap '' TERM; '{bin}' skill base --no-confine --workspace '{}'; exec sleep 60",
        setup.ws().display()
    );
    format!(
        "{}\n[experts.\"worker\".skills.\"files\"]\ntype = \"mcpStdioSkill\"\ncommand = \"sh\"\nargs = [\"-c\", {}]\n",
        support::CONFIG,
        serde_json::to_string(&script).unwrap()
    )
}

fn second_signal_exits_at_once(first: Signal, first_name: &str, second: Signal, code: i32) {
    let llm = ScriptedLlm::start(vec![Turn::text("too late").delayed(HELD_MS)]).unwrap();
    let setup = Setup::new();
    setup.write_config(&slow_to_stop_config(&setup));
    let run = setup.spawn(&Endpoint::openai(&llm.base_url), &[], "Say something");
    assert!(run.wait_for_event("startGeneration"), "{}", run.stderr());
    run.signal(first).unwrap();
    // The run has stopped (its checkpoint is written) and the skill is being shut down.
    assert!(run.wait_for_event("stopRunBySignal"), "{}", run.stderr());
    run.signal(second).unwrap();
    let ended = run.finish().unwrap();
    assert_eq!(ended.code(), Some(code), "{}", ended.stderr);
    assert!(
        ended.stderr.contains(&format!("{first_name}: stopping")),
        "{}",
        ended.stderr
    );
    assert!(
        ended.stderr.contains("again: exiting now"),
        "the second signal ended the process: {}",
        ended.stderr
    );
    let job = job_id(&ended.events);
    setup.assert_verified(&job);
    // The skill (it ignores SIGTERM, then sleeps 60 s) went down with the runtime.
    let pid = std::fs::read_to_string(setup.ws().join("skill.pid")).unwrap();
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while proc_dir.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !proc_dir.exists(),
        "the skill process {} outlived the exit",
        pid.trim()
    );
}

#[test]
fn a_second_sigterm_exits_at_once_with_143() {
    second_signal_exits_at_once(Signal::TERM, "SIGTERM", Signal::TERM, 143);
}

#[test]
fn sigint_then_sigterm_exits_at_once_with_143_and_sigint_alone_is_130() {
    second_signal_exits_at_once(Signal::INT, "SIGINT", Signal::TERM, 143);
    let llm = ScriptedLlm::start(vec![Turn::text("too late").delayed(HELD_MS)]).unwrap();
    let setup = Setup::new();
    let run = setup.spawn(&Endpoint::openai(&llm.base_url), &[], "Say something");
    assert!(run.wait_for_event("startGeneration"), "{}", run.stderr());
    run.signal(Signal::INT).unwrap();
    stopped_by(&run.finish().unwrap(), 130);
}
