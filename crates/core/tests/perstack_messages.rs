//! Every message part round-trips in Perstack's shape: a fixture written from Perstack's zod
//! schemas (`packages/core/src/schemas/message-part.ts` for the parts, `message.ts` for the
//! message kinds that hold them, in perstack-ai/perstack) is valid against a JSON Schema
//! transcribed from those files (`support/perstack_schema.rs`), deserialises into our types
//! and serialises back to the same value.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

#[path = "support/perstack_schema.rs"]
mod perstack_schema;

use perstack_core::message::{TextPart, ToolResultContent};
use perstack_core::{Message, MessagePart, ToolResultPart};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// `part` inside a message of kind `kind` is valid for Perstack, and both the message and
/// the part alone (as a `MessagePart`) come back unchanged.
fn round_trip_in(kind: &str, part: Value) {
    let message = json!({"type": kind, "id": "msg_1", "contents": [part.clone()]});
    assert_eq!(
        perstack_schema::errors(&perstack_schema::message_schema(), &message),
        Vec::<String>::new(),
        "the fixture itself must be valid for Perstack"
    );
    let ours: Message = serde_json::from_value(message.clone()).unwrap();
    assert_eq!(serde_json::to_value(&ours).unwrap(), message);
    let alone: MessagePart = serde_json::from_value(part.clone()).unwrap();
    assert_eq!(serde_json::to_value(&alone).unwrap(), part);
    assert_eq!(
        perstack_schema::errors(&perstack_schema::part_schema(), &part),
        Vec::<String>::new()
    );
}

#[test]
fn text_part() {
    let part = json!({"type": "textPart", "id": "p1", "text": "Summarise notes.md"});
    round_trip_in("userMessage", part.clone());
    round_trip_in("expertMessage", part.clone());
    round_trip_in("instructionMessage", part);
}

#[test]
fn image_url_part() {
    round_trip_in(
        "userMessage",
        json!({"type": "imageUrlPart", "id": "p1", "url": "https://example.com/a.png", "mimeType": "image/png"}),
    );
}

#[test]
fn image_inline_part() {
    round_trip_in(
        "userMessage",
        json!({"type": "imageInlinePart", "id": "p1", "encodedData": "iVBORw0KGgo=", "mimeType": "image/png"}),
    );
}

#[test]
fn image_binary_part() {
    round_trip_in(
        "userMessage",
        json!({"type": "imageBinaryPart", "id": "p1", "data": "iVBORw0KGgo=", "mimeType": "image/png"}),
    );
}

#[test]
fn file_url_part() {
    round_trip_in(
        "userMessage",
        json!({"type": "fileUrlPart", "id": "p1", "url": "https://example.com/a.pdf", "mimeType": "application/pdf"}),
    );
}

#[test]
fn file_inline_part() {
    round_trip_in(
        "userMessage",
        json!({"type": "fileInlinePart", "id": "p1", "encodedData": "JVBERi0=", "mimeType": "application/pdf"}),
    );
}

#[test]
fn file_binary_part() {
    round_trip_in(
        "userMessage",
        json!({"type": "fileBinaryPart", "id": "p1", "data": "JVBERi0=", "mimeType": "application/pdf"}),
    );
}

#[test]
fn tool_call_part() {
    round_trip_in(
        "expertMessage",
        json!({"type": "toolCallPart", "id": "p1", "toolCallId": "toolu_01", "toolName": "readTextFile",
               "args": {"path": "notes.md", "from": 1}}),
    );
}

#[test]
fn thinking_part_with_and_without_signature() {
    round_trip_in(
        "expertMessage",
        json!({"type": "thinkingPart", "id": "p1", "thinking": "The file is short.", "signature": "EqQBCkgI"}),
    );
    round_trip_in(
        "expertMessage",
        json!({"type": "thinkingPart", "id": "p1", "thinking": "No signature."}),
    );
}

#[test]
fn tool_result_part_with_every_content_kind() {
    round_trip_in(
        "toolMessage",
        json!({"type": "toolResultPart", "id": "p1", "toolCallId": "toolu_01", "toolName": "readImageFile",
               "contents": [
                   {"type": "textPart", "id": "p2", "text": "a.png"},
                   {"type": "imageInlinePart", "id": "p3", "encodedData": "iVBORw0KGgo=", "mimeType": "image/png"},
                   {"type": "fileInlinePart", "id": "p4", "encodedData": "JVBERi0=", "mimeType": "application/pdf"}
               ],
               "isError": false}),
    );
    round_trip_in(
        "toolMessage",
        json!({"type": "toolResultPart", "id": "p1", "toolCallId": "toolu_02", "toolName": "exec",
               "contents": [{"type": "textPart", "id": "p2", "text": "exit code 1"}], "isError": true}),
    );
    round_trip_in(
        "toolMessage",
        json!({"type": "toolResultPart", "id": "p1", "toolCallId": "toolu_03", "toolName": "todo",
               "contents": []}),
    );
}

#[test]
fn cache_flag_round_trips_on_every_message_kind() {
    let text = json!({"type": "textPart", "id": "p1", "text": "x"});
    let result = json!({"type": "toolResultPart", "id": "p1", "toolCallId": "c", "toolName": "t", "contents": [text.clone()]});
    for (kind, part) in [
        ("instructionMessage", &text),
        ("userMessage", &text),
        ("expertMessage", &text),
        ("toolMessage", &result),
    ] {
        let message = json!({"type": kind, "id": "m", "contents": [part], "cache": true});
        let ours: Message = serde_json::from_value(message.clone()).unwrap();
        assert_eq!(serde_json::to_value(&ours).unwrap(), message);
    }
}

/// A tool message built in Rust is written with the tag Perstack's `toolMessageSchema`
/// requires; the same value without the tag is what Perstack rejects.
#[test]
fn tool_messages_we_build_carry_the_tool_result_part_tag() {
    let message = Message::tool(vec![ToolResultPart {
        id: "p1".into(),
        tool_call_id: "toolu_01".into(),
        tool_name: "readTextFile".into(),
        contents: vec![ToolResultContent::Text(TextPart::new("# Notes"))],
        is_error: None,
    }]);
    let mut value = serde_json::to_value(&message).unwrap();
    assert_eq!(value["contents"][0]["type"], "toolResultPart");
    let schema = perstack_schema::message_schema();
    assert_eq!(
        perstack_schema::errors(&schema, &value),
        Vec::<String>::new()
    );
    value["contents"][0].as_object_mut().unwrap().remove("type");
    assert!(
        !perstack_schema::errors(&schema, &value).is_empty(),
        "without the tag Perstack's schema must reject the message"
    );
}

/// Checkpoints and message logs written before the tag was added still load; written again,
/// they carry it.
#[test]
fn untagged_tool_results_from_older_files_still_read_and_are_written_tagged() {
    let old = json!({"type": "toolMessage", "id": "m", "contents": [
        {"id": "p1", "toolCallId": "c", "toolName": "t",
         "contents": [{"type": "textPart", "id": "p2", "text": "ok"}]}
    ]});
    let message: Message = serde_json::from_value(old.clone()).unwrap();
    let mut want = old;
    want["contents"][0]["type"] = json!("toolResultPart");
    assert_eq!(serde_json::to_value(&message).unwrap(), want);
}

#[test]
fn a_tool_message_entry_with_another_tag_is_refused() {
    let bad = json!({"type": "toolMessage", "id": "m", "contents": [
        {"type": "textPart", "id": "p1", "toolCallId": "c", "toolName": "t", "contents": []}
    ]});
    let err = serde_json::from_value::<Message>(bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("toolResultPart"), "{err}");
}
