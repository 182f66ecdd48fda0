//! kill -9 at random points of a long run never leaves an unloadable checkpoint.
//!
//! The test re-executes its own binary as a writer child (pointed at its workspace by a
//! variable set on the child only), kills it with SIGKILL after a random delay, and then
//! loads every checkpoint the child managed to write and every event it logged (message
//! references included).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::process::{Command, Stdio};
use std::time::Duration;

use perstack_checkpoint::{Storage, verify_event_log};
use perstack_core::{Checkpoint, CheckpointStatus, ExpertRef, Message, Step, Usage};
use perstack_events::{RunEvent, RunEventMeta, RunEventPayload};

/// Set (on the child only) to the workspace the child writes into.
const CHILD_ENV: &str = "PERSTACK_CRASH_CHILD_DIR";

fn checkpoint(step: u32, messages: Vec<Message>) -> Checkpoint {
    let expert = ExpertRef {
        key: "writer".into(),
        name: "writer".into(),
        version: "1.0.0".into(),
    };
    Checkpoint {
        status: CheckpointStatus::Proceeding,
        step_number: step,
        messages,
        ..Checkpoint::init(format!("cp{step:05}"), "job1", "run1", expert)
    }
}

/// The child: writes checkpoints and events until killed.
#[test]
#[ignore = "child process of kill_9_never_leaves_an_unloadable_checkpoint"]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // run directly (e.g. with --include-ignored): nothing to do
    };
    let s = Storage::new(std::path::Path::new(&dir));
    let mut log = s.open_event_log("job1", "run1").unwrap();
    let meta = RunEventMeta {
        job_id: "job1".into(),
        run_id: "run1".into(),
        expert_key: "writer".into(),
        step_number: 0,
    };
    let mut msgs = vec![Message::instruction("You write.")];
    for step in 1..100_000u32 {
        msgs.push(Message::user_text(format!(
            "step {step} {}",
            "y".repeat(500)
        )));
        let cp = checkpoint(step, msgs.clone());
        s.store_checkpoint(&cp).unwrap();
        // Like the runtime: the event carrying the checkpoint is appended after it was
        // stored (its conversation becomes a reference), then streaming output.
        let stop = RunEvent::new(
            &meta,
            RunEventPayload::StopRunBySignal {
                checkpoint: cp,
                step: step_of(step),
                signal: "SIGTERM".into(),
            },
        );
        s.append_event(&mut log, stop.into(), true).unwrap();
        let generation = RunEvent::new(
            &meta,
            RunEventPayload::StartGeneration {
                messages: msgs.clone(),
            },
        );
        s.append_event(&mut log, generation.into(), false).unwrap();
        let ev = RunEvent::new(
            &meta,
            RunEventPayload::StreamRunResult {
                delta: format!("{step}"),
            },
        );
        log.append(&ev.into(), step % 2 == 0).unwrap();
    }
}

fn step_of(n: u32) -> Step {
    Step {
        step_number: n,
        input_messages: None,
        new_messages: Vec::new(),
        tool_calls: None,
        tool_results: None,
        pending_tool_calls: None,
        partial_tool_results: None,
        usage: Usage::default(),
        started_at: 0,
        finished_at: None,
    }
}

#[test]
fn kill_9_never_leaves_an_unloadable_checkpoint() {
    let exe = std::env::current_exe().unwrap();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id());
    let mut loaded = 0usize;
    for round in 0..8 {
        let ws = tempfile::tempdir().unwrap();
        let mut child = Command::new(&exe)
            .args(["crash_child_writer", "--exact", "--ignored"])
            .env(CHILD_ENV, ws.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(50 + seed % 400));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let s = Storage::new(ws.path());
        let Ok(list) = s.list_checkpoints("job1") else {
            continue; // killed before the first write
        };
        for c in &list {
            let cp = s
                .load_checkpoint("job1", &c.id)
                .unwrap_or_else(|e| panic!("round {round}: {} does not load: {e}", c.id));
            assert_eq!(cp.messages.len(), c.step_number as usize + 1);
            loaded += 1;
        }
        let events = s.layout().events_file("job1", "run1").unwrap();
        if events.exists() {
            // The chain holds and every message reference resolves.
            let report = verify_event_log(&events).unwrap();
            assert_eq!(report.first_break, None, "round {round}");
            let read = s.read_run_events("job1", "run1").unwrap();
            assert_eq!(read.len() as u64, report.lines, "round {round}");
            // Resuming appends to the same chain after a crash.
            s.open_event_log("job1", "run1").unwrap();
        }
    }
    assert!(
        loaded > 0,
        "the child never wrote a checkpoint before being killed"
    );
}
