//! Wire-format tests: every event type round-trips, carries Perstack's envelope, validates
//! against the published schema, and the JSON Lines reader/writer survive torn writes.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod fixtures;

use std::io::Cursor;

use perstack_events::schema::{SchemaKind, json_schema};
use perstack_events::{
    Event, JsonlReader, JsonlWriter, ReadItem, RunEventPayload, RuntimeEventPayload,
};
use pretty_assertions::assert_eq;

#[test]
fn every_event_type_has_a_fixture() {
    let names: Vec<String> = fixtures::all_events()
        .iter()
        .map(|e| e.type_name().to_string())
        .collect();
    let expected: Vec<String> = RunEventPayload::TYPES
        .iter()
        .chain(RuntimeEventPayload::TYPES.iter())
        .map(|s| (*s).to_string())
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn every_event_round_trips_through_json() {
    for event in fixtures::all_events() {
        let json = serde_json::to_string(&event).unwrap();
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["type"], event.type_name(), "type tag of {json}");
    }
}

#[test]
fn run_events_carry_perstacks_envelope() {
    for event in fixtures::all_events() {
        let v = serde_json::to_value(&event).unwrap();
        let mut want = vec!["id", "type", "timestamp", "jobId", "runId"];
        if matches!(event, Event::Run(_)) {
            want.extend(["expertKey", "stepNumber"]);
        }
        for key in want {
            assert!(v.get(key).is_some(), "{} lacks {key}", event.type_name());
        }
    }
}

#[test]
fn every_event_validates_against_the_published_schema() {
    let schema = json_schema(SchemaKind::Events);
    let validator = jsonschema::validator_for(&schema).unwrap();
    for event in fixtures::all_events() {
        let v = serde_json::to_value(&event).unwrap();
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert_eq!(errors, Vec::<String>::new(), "{}", event.type_name());
    }
    // Ours, printed last by `perstack run`: in the schema too.
    let anchor = perstack_events::AuditAnchor::new("a1".into(), 1, "j1", "sha256:00@3");
    let v = serde_json::to_value(anchor.to_event()).unwrap();
    assert_eq!(v["type"], "auditAnchor");
    assert_eq!(
        v["verify"],
        "perstack log --job j1 --verify --expect sha256:00@3"
    );
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
    assert_eq!(errors, Vec::<String>::new(), "auditAnchor");
    let checkpoint_schema = json_schema(SchemaKind::Checkpoint);
    let validator = jsonschema::validator_for(&checkpoint_schema).unwrap();
    for event in fixtures::all_events() {
        if let Event::Run(e) = &event
            && let Some(cp) = e.payload.checkpoint()
        {
            assert!(validator.is_valid(&serde_json::to_value(cp).unwrap()));
        }
    }
}

#[test]
fn a_perstack_written_event_parses() {
    // Shape as Perstack's TypeScript runtime writes it (fields in its order, optional fields
    // absent).
    let line = r#"{"type":"callTools","id":"x1","expertKey":"writer@1.0.0","timestamp":1700000000000,"jobId":"j","runId":"r","stepNumber":1,"newMessage":{"id":"m","type":"expertMessage","contents":[{"id":"p","type":"toolCallPart","toolCallId":"c","toolName":"exec","args":{"command":"ls"}}]},"toolCalls":[{"id":"c","skillName":"@perstack/base","toolName":"exec","args":{"command":"ls"}}],"usage":{"inputTokens":1,"outputTokens":2,"reasoningTokens":0,"totalTokens":3,"cachedInputTokens":0}}"#;
    let e: Event = serde_json::from_str(line).unwrap();
    assert_eq!(e.type_name(), "callTools");
    assert_eq!(e.job_id(), "j");
}

#[test]
fn unknown_types_are_kept_not_rejected() {
    let line = r#"{"type":"someFutureEvent","id":"x","timestamp":1,"jobId":"j","runId":"r","extra":[1,2]}"#;
    let e: Event = serde_json::from_str(line).unwrap();
    assert!(matches!(e, Event::Unknown(_)));
    assert_eq!(serde_json::to_string(&e).unwrap(), line);
    assert!(serde_json::from_str::<Event>(r#"{"id":"x"}"#).is_err());
}

fn write_all(events: &[Event]) -> Vec<u8> {
    let mut w = JsonlWriter::new(Vec::new());
    for e in events {
        w.write(e).unwrap();
    }
    w.into_inner()
}

#[test]
fn jsonl_writes_one_line_per_event_and_reads_back() {
    let events = fixtures::all_events();
    let bytes = write_all(&events);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert_eq!(text.lines().count(), events.len());
    assert!(text.ends_with('\n'));
    let read: Vec<Event> = JsonlReader::new(Cursor::new(bytes))
        .map(|item| {
            let ReadItem::Event(e) = item else {
                panic!("unexpected {item:?}")
            };
            e
        })
        .collect();
    assert_eq!(read, events);
}

#[test]
fn torn_last_line_is_reported_once_and_earlier_lines_survive() {
    let events = fixtures::all_events();
    let mut bytes = write_all(&events[..3]);
    let full_len = bytes.len();
    let fourth = write_all(&events[3..4]);
    bytes.extend_from_slice(&fourth[..fourth.len() / 2]);
    let items: Vec<ReadItem> = JsonlReader::new(Cursor::new(bytes)).collect();
    assert_eq!(items.len(), 4);
    assert!(items[..3].iter().all(|i| matches!(i, ReadItem::Event(_))));
    let ReadItem::TornTail { line, bytes } = &items[3] else {
        panic!("expected torn tail, got {:?}", items[3])
    };
    assert_eq!((*line, *bytes), (4, fourth.len() / 2));
    assert!(full_len > 0);
}

#[test]
fn a_bad_line_in_the_middle_is_reported_and_reading_goes_on() {
    let events = fixtures::all_events();
    let mut bytes = write_all(&events[..1]);
    bytes.extend_from_slice(b"{not json}\n\n");
    bytes.extend(write_all(&events[1..2]));
    let items: Vec<ReadItem> = JsonlReader::new(Cursor::new(bytes)).collect();
    assert_eq!(items.len(), 3);
    let ReadItem::Invalid(e) = &items[1] else {
        panic!("expected invalid, got {:?}", items[1])
    };
    assert!(e.to_string().starts_with("line 2: not a valid event"));
    assert!(matches!(items[2], ReadItem::Event(_)));
}

#[test]
fn wire_format_snapshot() {
    let lines: Vec<serde_json::Value> = fixtures::all_events()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    insta::assert_json_snapshot!("all_events", lines);
}

#[test]
fn schemas_snapshot_and_docs_are_current() {
    for kind in SchemaKind::ALL {
        let schema = json_schema(kind);
        insta::assert_json_snapshot!(format!("schema_{}", kind.name()), schema);
        let path = format!(
            "{}/../../docs/schema/{}.json",
            env!("CARGO_MANIFEST_DIR"),
            kind.name()
        );
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap());
        assert!(
            on_disk == generated,
            "{path} is out of date; run `cargo xtask schema` and review the diff"
        );
    }
}
