//! A whole conversation with a tool call, in Perstack's message shape
//! (`packages/core/src/schemas/message.ts` and `message-part.ts` in perstack-ai/perstack:
//! user → expert with a `toolCallPart` → `toolMessage` whose contents are `toolResultPart`s →
//! expert text), goes through checkpoint storage and the event stream unchanged, and every
//! tool result is written with its `"type": "toolResultPart"` tag. Checkpoints written before
//! the tag existed still load.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use perstack_checkpoint::Storage;
use perstack_core::message::TextPart;
use perstack_core::{
    Checkpoint, CheckpointStatus, Message, MessagePart, ToolCall, ToolResult, Usage,
};
use perstack_events::{Event, JsonlReader, JsonlWriter, ReadItem, RunEventPayload};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Run, expert, step};

fn call() -> ToolCall {
    ToolCall {
        id: "toolu_01".into(),
        skill_name: "@perstack/base".into(),
        tool_name: "readTextFile".into(),
        args: json!({"path": "notes.md"}).as_object().cloned().unwrap(),
    }
}

/// instruction, user, expert (thinking, text, tool call), tool (result), expert (text), as
/// Perstack writes them.
fn conversation_json() -> Value {
    json!([
        {"type": "instructionMessage", "id": "m0", "cache": true,
         "contents": [{"type": "textPart", "id": "p0", "text": "You write."}]},
        {"type": "userMessage", "id": "m1",
         "contents": [{"type": "textPart", "id": "p1", "text": "Summarise notes.md"}]},
        {"type": "expertMessage", "id": "m2", "contents": [
            {"type": "thinkingPart", "id": "p2", "thinking": "Read it first.", "signature": "sig"},
            {"type": "textPart", "id": "p3", "text": "Reading the notes."},
            {"type": "toolCallPart", "id": "p4", "toolCallId": "toolu_01",
             "toolName": "readTextFile", "args": {"path": "notes.md"}}
        ]},
        {"type": "toolMessage", "id": "m3", "contents": [
            {"type": "toolResultPart", "id": "p5", "toolCallId": "toolu_01",
             "toolName": "readTextFile", "isError": false,
             "contents": [{"type": "textPart", "id": "p6", "text": "# Notes\nbuy milk"}]}
        ]},
        {"type": "expertMessage", "id": "m4",
         "contents": [{"type": "textPart", "id": "p7", "text": "The notes say: buy milk."}]}
    ])
}

fn conversation() -> Vec<Message> {
    serde_json::from_value(conversation_json()).unwrap()
}

/// Emits the run as the runtime does, storing what the events carry.
fn emit_run(run: &mut Run<'_>) -> Checkpoint {
    let msgs = conversation();
    let mut cp = Checkpoint::init("cp1", "job1", "run1", expert());
    cp.step_number = 1;
    cp.messages = vec![msgs[0].clone()];
    run.emit(RunEventPayload::StartRun {
        initial_checkpoint: cp.clone(),
        input_messages: vec![msgs[1].clone()],
    });
    cp.messages.push(msgs[1].clone());
    run.emit(RunEventPayload::StartGeneration {
        messages: cp.messages.clone(),
    });
    run.emit(RunEventPayload::CallTools {
        new_message: msgs[2].clone(),
        tool_calls: vec![call()],
        usage: Usage::default(),
    });
    run.emit(RunEventPayload::ResolveToolResults {
        tool_results: vec![ToolResult {
            id: "toolu_01".into(),
            skill_name: "@perstack/base".into(),
            tool_name: "readTextFile".into(),
            result: vec![MessagePart::Text(TextPart {
                id: "p6".into(),
                text: "# Notes\nbuy milk".into(),
            })],
            is_error: None,
        }],
    });
    run.emit(RunEventPayload::FinishAllToolCalls {
        new_messages: vec![msgs[3].clone()],
    });
    cp.messages.extend([msgs[2].clone(), msgs[3].clone()]);
    cp.status = CheckpointStatus::Proceeding;
    let end = cp.clone();
    cp.id = "cp2".into();
    cp.step_number = 2;
    run.emit(RunEventPayload::ContinueToNextStep {
        checkpoint: end,
        step: step(1, vec![msgs[2].clone(), msgs[3].clone()]),
        next_checkpoint: cp.clone(),
    });
    run.meta.step_number = 2;
    run.emit(RunEventPayload::StartGeneration {
        messages: cp.messages.clone(),
    });
    cp.messages.push(msgs[4].clone());
    cp.status = CheckpointStatus::Completed;
    run.emit(RunEventPayload::CompleteRun {
        checkpoint: cp.clone(),
        step: step(2, vec![msgs[4].clone()]),
        text: "The notes say: buy milk.".into(),
        usage: Usage::default(),
    });
    cp
}

/// Every `toolMessage` anywhere in `v`; panics on an entry of one without the tag.
fn tool_messages_checked(v: &Value) -> usize {
    match v {
        Value::Object(obj) => {
            let own = if obj.get("type") == Some(&json!("toolMessage")) {
                for entry in obj["contents"].as_array().unwrap() {
                    assert_eq!(entry["type"], "toolResultPart", "untagged: {entry}");
                }
                1
            } else {
                0
            };
            own + obj.values().map(tool_messages_checked).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(tool_messages_checked).sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => 0,
    }
}

#[test]
fn a_conversation_with_a_tool_call_round_trips_through_storage_and_the_event_stream() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let mut run = Run::new(&s, "run1");
    let last = emit_run(&mut run);
    assert_eq!(
        serde_json::to_value(&last.messages).unwrap(),
        conversation_json()
    );

    // Checkpoint storage, read by another process.
    let reader = Storage::new(ws.path());
    assert_eq!(reader.load_checkpoint("job1", "cp2").unwrap(), last);
    // The stored event log expands to exactly what was emitted.
    assert_eq!(reader.read_run_events("job1", "run1").unwrap(), run.emitted);

    // The event stream (`perstack run`'s stdout) reads back unchanged.
    let mut writer = JsonlWriter::new(Vec::new());
    for event in &run.emitted {
        writer.write(event).unwrap();
    }
    let bytes = writer.into_inner();
    let read: Vec<Event> = JsonlReader::new(bytes.as_slice())
        .map(|item| match item {
            ReadItem::Event(e) => e,
            other @ (ReadItem::Invalid(_) | ReadItem::TornTail { .. }) => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(read, run.emitted);

    // On the wire and on disk, every tool result carries Perstack's tag.
    let mut seen = 0;
    for line in String::from_utf8(bytes).unwrap().lines() {
        seen += tool_messages_checked(&serde_json::from_str(line).unwrap());
    }
    assert!(seen >= 5, "the stream carries the tool message: {seen}");
    let log = ws
        .path()
        .join("perstack/jobs/job1/runs/run1/messages-0.jsonl");
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines.iter().map(tool_messages_checked).sum::<usize>(), 1);
}

/// A checkpoint whose message log was written before the tag existed (tool results without
/// `type`) still loads, with the same messages; stored again, they carry the tag.
#[test]
fn a_checkpoint_written_without_the_tag_still_loads_and_is_rewritten_tagged() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let mut cp = Checkpoint::init("cp1", "job1", "run1", expert());
    cp.status = CheckpointStatus::Completed;
    cp.messages = conversation();
    s.store_checkpoint(&cp).unwrap();

    // Rewrite the log as an older version wrote it, and the checkpoint's hash of it.
    let job = ws.path().join("perstack/jobs/job1");
    let log = job.join("runs/run1/messages-0.jsonl");
    let old: String = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| {
            let mut v: Value = serde_json::from_str(line).unwrap();
            if v["type"] == "toolMessage" {
                for entry in v["contents"].as_array_mut().unwrap() {
                    entry.as_object_mut().unwrap().remove("type");
                }
            }
            format!("{v}\n")
        })
        .collect();
    assert!(!old.contains("toolResultPart"));
    std::fs::write(&log, &old).unwrap();
    let cp_file = job.join("checkpoints/cp1.json");
    let mut stored: Value = serde_json::from_slice(&std::fs::read(&cp_file).unwrap()).unwrap();
    stored["messagesSha256"] = json!(format!("{:x}", Sha256::digest(old.as_bytes())));
    std::fs::write(&cp_file, stored.to_string()).unwrap();

    let loaded = Storage::new(ws.path())
        .load_checkpoint("job1", "cp1")
        .unwrap();
    assert_eq!(loaded, cp);

    // Resumed in a new run, the conversation is written again, tagged.
    let mut resumed = loaded;
    resumed.id = "cp2".into();
    resumed.run_id = "run2".into();
    Storage::new(ws.path()).store_checkpoint(&resumed).unwrap();
    let new_log = std::fs::read_to_string(job.join("runs/run2/messages-0.jsonl")).unwrap();
    let tagged: usize = new_log
        .lines()
        .map(|l| tool_messages_checked(&serde_json::from_str(l).unwrap()))
        .sum();
    assert_eq!(tagged, 1);
}
