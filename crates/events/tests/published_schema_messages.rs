//! The published schemas (docs/schema/events.json, checkpoint.json) require what Perstack's
//! `toolMessageSchema` requires (`packages/core/src/schemas/message.ts` in perstack-ai/perstack):
//! each entry of a `toolMessage` is a `toolResultPart`, tag included; and they describe
//! optional fields as optional, not nullable, since none is ever written as `null`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use perstack_core::message::{TextPart, ToolResultContent};
use perstack_core::{Checkpoint, CheckpointStatus, ExpertRef, Message, ToolResultPart};
use perstack_events::schema::{SchemaKind, json_schema};
use perstack_events::{Event, RunEvent, RunEventMeta, RunEventPayload};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

fn tool_message() -> Message {
    Message::tool(vec![ToolResultPart {
        id: "p1".into(),
        tool_call_id: "toolu_01".into(),
        tool_name: "readTextFile".into(),
        contents: vec![ToolResultContent::Text(TextPart::new("# Notes"))],
        is_error: Some(false),
    }])
}

fn checkpoint() -> Checkpoint {
    let expert: ExpertRef =
        serde_json::from_value(json!({"key": "writer", "name": "writer", "version": "1.0.0"}))
            .unwrap();
    Checkpoint {
        status: CheckpointStatus::Proceeding,
        step_number: 2,
        messages: vec![Message::user_text("Summarise notes.md"), tool_message()],
        ..Checkpoint::init("cp1", "job1", "run1", expert)
    }
}

fn errors(kind: SchemaKind, value: &Value) -> Vec<String> {
    let schema = json_schema(kind);
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect()
}

/// `value` with the tag of every tool message entry removed (what older files held).
fn untag(value: &mut Value) {
    match value {
        Value::Object(obj) => {
            if obj.get("type").and_then(Value::as_str) == Some("toolMessage") {
                for entry in obj["contents"].as_array_mut().unwrap() {
                    entry.as_object_mut().unwrap().remove("type");
                }
            }
            obj.values_mut().for_each(untag);
        }
        Value::Array(items) => items.iter_mut().for_each(untag),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

#[test]
fn the_checkpoint_schema_requires_the_tool_result_part_tag() {
    let mut v = serde_json::to_value(checkpoint()).unwrap();
    assert_eq!(errors(SchemaKind::Checkpoint, &v), Vec::<String>::new());
    untag(&mut v);
    assert!(!errors(SchemaKind::Checkpoint, &v).is_empty());
}

#[test]
fn the_events_schema_requires_the_tool_result_part_tag() {
    let meta = RunEventMeta {
        job_id: "job1".into(),
        run_id: "run1".into(),
        expert_key: "writer".into(),
        step_number: 1,
    };
    let payloads = [
        RunEventPayload::FinishAllToolCalls {
            new_messages: vec![tool_message()],
        },
        RunEventPayload::StartGeneration {
            messages: checkpoint().messages,
        },
        RunEventPayload::StartRun {
            initial_checkpoint: checkpoint(),
            input_messages: vec![tool_message()],
        },
    ];
    for payload in payloads {
        let event = Event::from(RunEvent::new(&meta, payload));
        let mut v = serde_json::to_value(&event).unwrap();
        assert_eq!(errors(SchemaKind::Events, &v), Vec::<String>::new());
        untag(&mut v);
        assert!(
            !errors(SchemaKind::Events, &v).is_empty(),
            "{} validates without the tag",
            event.type_name()
        );
    }
}

/// Every `null` a published schema allows is one we write; we write none.
#[test]
fn no_published_schema_allows_null() {
    for kind in [
        SchemaKind::Events,
        SchemaKind::Checkpoint,
        SchemaKind::Config,
    ] {
        let text = serde_json::to_string(&json_schema(kind)).unwrap();
        assert!(!text.contains("\"null\""), "{} allows null", kind.name());
    }
}
