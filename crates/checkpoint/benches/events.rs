//! Bytes the event log writes per step over a long run: the compact stored form (stored-line
//! format 2, conversations as message-log references) against storing every event whole
//! (format 1, what this crate wrote before). Prints `bench:` lines for `cargo xtask bench`.

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::time::Instant;

use perstack_checkpoint::Storage;
use perstack_core::{Checkpoint, CheckpointStatus, ExpertRef, Message, Step, ToolCall, Usage};
use perstack_events::{Event, RunEvent, RunEventMeta, RunEventPayload};

const STEPS: u32 = 500;
/// New content per step: the model's message and a tool result, 1 KB each.
const HALF: usize = 1000;

fn step(n: u32, new_messages: Vec<Message>) -> Step {
    Step {
        step_number: n,
        input_messages: None,
        new_messages,
        tool_calls: None,
        tool_results: None,
        pending_tool_calls: None,
        partial_tool_results: None,
        usage: Usage::default(),
        started_at: 1,
        finished_at: Some(2),
    }
}

/// The size of `event` stored whole in a format-1 line (`seq`, `prev`, newline included).
fn whole_line_bytes(seq: u64, event: &Event) -> u64 {
    let line = serde_json::json!({"seq": seq, "prev": "0".repeat(64), "event": event});
    serde_json::to_vec(&line).unwrap().len() as u64 + 1
}

fn main() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let mut log = s.open_event_log("job1", "run1").unwrap();
    let mut meta = RunEventMeta {
        job_id: "job1".into(),
        run_id: "run1".into(),
        expert_key: "w".into(),
        step_number: 1,
    };
    let (mut ours, mut whole, mut seq) = (0u64, 0u64, 0u64);
    let (mut ours_last, mut whole_last) = (0u64, 0u64);
    let mut busy = std::time::Duration::ZERO;
    // Emits like the runtime: store the checkpoints an event carries, then append it.
    let mut emit = |meta: &RunEventMeta, payload: RunEventPayload, last: bool| {
        let start = Instant::now();
        if let RunEventPayload::ContinueToNextStep { checkpoint, .. } = &payload {
            s.store_checkpoint(checkpoint).unwrap();
        }
        if let Some(cp) = payload.checkpoint() {
            s.store_checkpoint(cp).unwrap();
        }
        let durable = payload.checkpoint().is_some();
        let event = Event::from(RunEvent::new(meta, payload));
        let appended = s.append_event(&mut log, event, durable).unwrap();
        busy += start.elapsed();
        seq += 1;
        let w = whole_line_bytes(seq, &appended.event);
        ours += appended.bytes;
        whole += w;
        if last {
            ours_last += appended.bytes;
            whole_last += w;
        }
    };
    let expert = ExpertRef {
        key: "w".into(),
        name: "w".into(),
        version: "1.0.0".into(),
    };
    let mut cp = Checkpoint::init("cp1", "job1", "run1", expert);
    cp.step_number = 1;
    emit(
        &meta,
        RunEventPayload::StartRun {
            initial_checkpoint: cp.clone(),
            input_messages: vec![Message::user_text("go")],
        },
        false,
    );
    cp.messages.push(Message::instruction("You write."));
    cp.messages.push(Message::user_text("go"));
    for n in 1..=STEPS {
        let last = n == STEPS;
        meta.step_number = n;
        emit(
            &meta,
            RunEventPayload::StartGeneration {
                messages: cp.messages.clone(),
            },
            last,
        );
        let call = Message::user_text("a".repeat(HALF));
        emit(
            &meta,
            RunEventPayload::CallTools {
                new_message: call.clone(),
                tool_calls: vec![ToolCall {
                    id: format!("t{n}"),
                    skill_name: "base".into(),
                    tool_name: "exec".into(),
                    args: serde_json::Map::new(),
                }],
                usage: Usage::default(),
            },
            last,
        );
        let result = Message::user_text("b".repeat(HALF));
        emit(
            &meta,
            RunEventPayload::FinishAllToolCalls {
                new_messages: vec![result.clone()],
            },
            last,
        );
        cp.messages.push(call.clone());
        cp.messages.push(result.clone());
        cp.status = CheckpointStatus::Proceeding;
        let end = cp.clone();
        cp.id = format!("cp{}", n + 1);
        cp.step_number = n + 1;
        emit(
            &meta,
            RunEventPayload::ContinueToNextStep {
                checkpoint: end,
                step: step(n, vec![call, result]),
                next_checkpoint: cp.clone(),
            },
            last,
        );
    }
    let steps = f64::from(STEPS);
    println!(
        "bench: events.bytes_written {STEPS} steps (2 KB new per step): ours {:.1} KB/step ({:.2} MB in all, last step {:.1} KB), stored whole {:.0} KB/step ({:.0} MB in all, last step {:.0} KB; {:.0}x more)",
        ours as f64 / 1e3 / steps,
        ours as f64 / 1e6,
        ours_last as f64 / 1e3,
        whole as f64 / 1e3 / steps,
        whole as f64 / 1e6,
        whole_last as f64 / 1e3,
        whole as f64 / ours as f64
    );
    println!(
        "bench: events.store {STEPS} steps (checkpoints + events, the one fdatasync per step included): {:.2} ms per step",
        busy.as_secs_f64() * 1e3 / steps
    );
    let start = Instant::now();
    let events = Storage::new(ws.path())
        .read_run_events("job1", "run1")
        .unwrap();
    println!(
        "bench: events.read_run_events {} events, conversations expanded: {:.0} ms",
        events.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
}
