//! `perstack run --events compact` (and `PERSTACK_EVENTS=compact`) through the real binary
//! against the scripted LLM: the compact lines rebuild to exactly the events the run stored,
//! each step writes as many bytes at step 60 as at step 5, and the default stays Perstack's
//! full events.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use perstack_checkpoint::Storage;
use perstack_events::{CompactEvent, CompactReader, Event, JsonlReader, ReadItem, Rebuilder};
use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{Endpoint, Setup, text};

/// `steps` file appends, then the answer.
fn script(steps: usize) -> Vec<Turn> {
    let mut turns: Vec<Turn> = (0..steps)
        .map(|i| {
            Turn::call(
                "appendTextFile",
                json!({"path": "log.md", "text": format!("line {i}\n")}),
            )
        })
        .collect();
    turns.push(Turn::text("Appended every line."));
    turns
}

/// Runs the script with `extra` flags and `env`; returns the setup (workspace) and stdout.
fn run(steps: usize, extra: &[&str], env: &[(&str, &str)]) -> (Setup, Vec<u8>) {
    let llm = ScriptedLlm::start(script(steps)).unwrap();
    let setup = Setup::new();
    setup.write_config(
        "maxSteps = 100\n[experts.\"worker\"]\nversion = \"1.0.0\"\ninstruction = \"Append.\"\n",
    );
    let mut cmd = setup.run_command(&Endpoint::openai(&llm.base_url), extra, "Append lines");
    cmd.env_remove("PERSTACK_EVENTS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    (setup, out.stdout)
}

fn compact_lines(stdout: &[u8]) -> Vec<CompactEvent> {
    CompactReader::new(stdout)
        .map(|item| match item {
            ReadItem::Event(e) => e,
            other @ (ReadItem::Invalid(_) | ReadItem::TornTail { .. }) => {
                panic!("not a compact line: {other:?}")
            }
        })
        .collect()
}

/// The job's stored events, every run merged as emitted.
fn stored(setup: &Setup, job_id: &str) -> Vec<Event> {
    let storage = Storage::new(setup.ws());
    storage.read_job_events(job_id).unwrap()
}

#[test]
fn compact_stdout_rebuilds_to_the_stored_events() {
    let (setup, stdout) = run(6, &["--events", "compact"], &[]);
    let lines = compact_lines(&stdout);
    // The last line is the audit anchor, never stored.
    let (anchor, lines) = lines.split_last().unwrap();
    assert_eq!(anchor.type_name(), "auditAnchor");
    let mut rebuilder = Rebuilder::new();
    let rebuilt: Vec<Event> = lines
        .iter()
        .map(|l| rebuilder.rebuild(l.clone()).unwrap())
        .collect();
    let job_id = rebuilt[0].job_id().to_string();
    assert_eq!(rebuilt, stored(&setup, &job_id));
    assert!(rebuilt.iter().any(|e| e.type_name() == "completeRun"));
    setup.assert_verified(&job_id);
}

#[test]
fn the_environment_selects_compact_and_full_stays_the_default() {
    let (_, compact) = run(2, &[], &[("PERSTACK_EVENTS", "compact")]);
    let start = compact_lines(&compact)
        .into_iter()
        .find(|l| l.type_name() == "startGeneration")
        .unwrap();
    let start = serde_json::to_value(start).unwrap();
    assert_eq!(start["messageCount"], 2, "{start}");
    let (setup, full) = run(2, &[], &[]);
    let events: Vec<Event> = JsonlReader::new(full.as_slice())
        .filter_map(|item| match item {
            ReadItem::Event(e) => Some(e),
            ReadItem::Invalid(_) | ReadItem::TornTail { .. } => None,
        })
        .collect();
    let (_, events) = events.split_last().unwrap();
    let job_id = events[0].job_id().to_string();
    assert_eq!(events, stored(&setup, &job_id).as_slice());
    let bad = {
        let llm = ScriptedLlm::start(script(1)).unwrap();
        let setup = Setup::new();
        let mut cmd = setup.run_command(
            &Endpoint::openai(&llm.base_url),
            &["--events", "short"],
            "x",
        );
        cmd.output().unwrap()
    };
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("compact"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn compact_bytes_per_step_do_not_grow_with_the_run() {
    let per_step = |steps: usize| {
        let (_, stdout) = run(steps, &["--events", "compact"], &[]);
        // Lines of steps 2..=steps-1: whole tool steps (call, result, continue).
        let lines = compact_lines(&stdout);
        let bytes: usize = lines
            .iter()
            .filter(|l| match l {
                CompactEvent::Run(r) => r.step_number >= 2 && (r.step_number as usize) < steps,
                CompactEvent::Runtime(_) | CompactEvent::Unknown(_) => false,
            })
            .map(|l| serde_json::to_string(l).unwrap().len())
            .sum();
        bytes as f64 / (steps - 2) as f64
    };
    let (short, long) = (per_step(5), per_step(60));
    assert!(
        long < short * 1.5,
        "{long:.0} bytes per step at 60 steps, {short:.0} at 5"
    );
}
