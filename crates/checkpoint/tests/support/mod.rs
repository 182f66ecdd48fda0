//! A simulated run shared by the storage tests: events emitted in the runtime's order of
//! side effects.

#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used)] // test helpers: failing loudly is the point

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use perstack_checkpoint::Storage;
use perstack_core::{Checkpoint, CheckpointStatus, ExpertRef, Message, Step, ToolCall, Usage};
use perstack_events::{Event, RunEvent, RunEventMeta, RunEventPayload};

pub fn expert() -> ExpertRef {
    ExpertRef {
        key: "writer".into(),
        name: "writer".into(),
        version: "1.0.0".into(),
    }
}

pub fn step(n: u32, new_messages: Vec<Message>) -> Step {
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

/// Emits like the runtime does: checkpoints an event carries are stored, then the event is
/// appended. Returns the emitted events and the bytes appended to `events.jsonl`.
pub struct Run<'a> {
    pub s: &'a Storage,
    pub log: perstack_checkpoint::EventLog,
    pub meta: RunEventMeta,
    pub emitted: Vec<Event>,
    pub bytes: Vec<u64>,
}

impl<'a> Run<'a> {
    pub fn new(s: &'a Storage, run: &str) -> Self {
        Run {
            s,
            log: s.open_event_log("job1", run).unwrap(),
            meta: RunEventMeta {
                job_id: "job1".into(),
                run_id: run.into(),
                expert_key: "writer".into(),
                step_number: 1,
            },
            emitted: Vec::new(),
            bytes: Vec::new(),
        }
    }

    pub fn emit(&mut self, payload: RunEventPayload) {
        if let RunEventPayload::ContinueToNextStep { checkpoint, .. } = &payload {
            self.s.store_checkpoint(checkpoint).unwrap();
        }
        if let Some(cp) = payload.checkpoint() {
            self.s.store_checkpoint(cp).unwrap();
        }
        let durable = payload.checkpoint().is_some();
        let event = Event::from(RunEvent::new(&self.meta, payload));
        let appended = self.s.append_event(&mut self.log, event, durable).unwrap();
        self.bytes.push(appended.bytes);
        self.emitted.push(appended.event);
    }

    /// A run of `steps` tool-using steps adding `size` bytes of text each, then completion.
    pub fn simulate(&mut self, steps: u32, size: usize) {
        let mut cp = self.start();
        self.steps(&mut cp, 1..=steps, size);
        self.complete(cp);
    }

    /// `startRun`; returns the checkpoint the first step works on.
    pub fn start(&mut self) -> Checkpoint {
        let run_id = self.meta.run_id.clone();
        let mut cp = Checkpoint::init(format!("{run_id}-cp1"), "job1", &run_id, expert());
        cp.step_number = 1;
        self.emit(RunEventPayload::StartRun {
            initial_checkpoint: cp.clone(),
            input_messages: vec![Message::user_text("go")],
        });
        cp.messages.push(Message::instruction("You write."));
        cp.messages.push(Message::user_text("go"));
        cp
    }

    /// Tool-using steps `steps` adding `size` bytes of text each, from `cp`.
    pub fn steps(&mut self, cp: &mut Checkpoint, steps: RangeInclusive<u32>, size: usize) {
        let run_id = self.meta.run_id.clone();
        for n in steps {
            self.meta.step_number = n;
            self.emit(RunEventPayload::StartGeneration {
                messages: cp.messages.clone(),
            });
            let call = Message::user_text(format!("call {n} {}", "c".repeat(size / 2)));
            self.emit(RunEventPayload::CallTools {
                new_message: call.clone(),
                tool_calls: vec![ToolCall {
                    id: format!("t{n}"),
                    skill_name: "base".into(),
                    tool_name: "exec".into(),
                    args: serde_json::Map::new(),
                }],
                usage: Usage::default(),
            });
            let result = Message::user_text(format!("result {n} {}", "r".repeat(size / 2)));
            self.emit(RunEventPayload::FinishAllToolCalls {
                new_messages: vec![result.clone()],
            });
            cp.messages.push(call.clone());
            cp.messages.push(result.clone());
            cp.status = CheckpointStatus::Proceeding;
            let end = cp.clone();
            cp.id = format!("{run_id}-cp{}", n + 1);
            cp.step_number = n + 1;
            self.emit(RunEventPayload::ContinueToNextStep {
                checkpoint: end,
                step: step(n, vec![call, result]),
                next_checkpoint: cp.clone(),
            });
        }
    }

    /// `completeRun` from `cp`.
    pub fn complete(&mut self, mut cp: Checkpoint) {
        cp.status = CheckpointStatus::Completed;
        let n = cp.step_number;
        self.emit(RunEventPayload::CompleteRun {
            checkpoint: cp,
            step: step(n, Vec::new()),
            text: "done".into(),
            usage: Usage::default(),
        });
    }
}

/// The event log of `run` of `job1`.
pub fn events_path(ws: &Path, run: &str) -> PathBuf {
    Storage::new(ws).layout().events_file("job1", run).unwrap()
}
