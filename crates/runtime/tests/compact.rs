//! The compact event stream (`Runtime::with_compact_listener`): rebuilt, it is exactly the
//! full stream of the same run (whole values), each message is said once, and its lines do
//! not grow with the run's length.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::sync::{Arc, Mutex};

use perstack_events::{CompactEvent, Event, Rebuilder};
use perstack_runtime::{Runtime, SharedToolHost};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::script::{Turn, call, say};
use support::server::Reply;
use support::{HELPER, Harness, MAIN, redact};

/// The harness's runtime with a compact listener instead of the full one; returns what it
/// collects.
fn compact(h: &mut Harness) -> Arc<Mutex<Vec<CompactEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    h.runtime = Runtime::new(h.provider.clone(), Arc::new(SharedToolHost(h.host.clone())))
        .with_storage(Arc::clone(&h.storage))
        .with_compact_listener(Arc::new(move |e: &CompactEvent| {
            sink.lock().unwrap().push(e.clone())
        }));
    seen
}

/// A run of `steps` echo calls, then a retry after an empty reply, then the answer.
fn script(steps: usize) -> Vec<Reply> {
    let mut replies: Vec<Reply> = (0..steps)
        .map(|i| {
            call(
                &format!("c{i}"),
                "echo",
                json!({"text": format!("step {i}")}),
            )
        })
        .collect();
    replies.push(Turn::new().usage(5, 0).reply());
    replies.push(say("All steps done."));
    replies
}

fn rebuild(lines: &[CompactEvent]) -> Vec<Event> {
    let mut r = Rebuilder::new();
    lines
        .iter()
        .map(|l| r.rebuild(l.clone()).unwrap())
        .collect()
}

fn redacted(events: &[Event]) -> Vec<Value> {
    events
        .iter()
        .map(|e| redact(serde_json::to_value(e).unwrap()))
        .collect()
}

#[tokio::test]
async fn rebuilt_compact_stream_is_the_full_stream() {
    // The same script twice: once with Perstack's events, once compact.
    let full = Harness::new(script(4)).await;
    let full_outcome = full.run(full.setting("Echo four times")).await;
    let mut h = Harness::new(script(4)).await;
    let lines = compact(&mut h);
    let outcome = h.run(h.setting("Echo four times")).await;
    assert_eq!(outcome.text.as_deref(), Some("All steps done."));
    let lines = lines.lock().unwrap().clone();
    let rebuilt = rebuild(&lines);
    // Same run: the rebuilt stream is exactly what storage recorded as emitted.
    let stored = h.storage.read_job_events(&outcome.job.id).unwrap();
    assert_eq!(rebuilt, stored);
    // Same script: equal to the full stream of the other run but for ids and times.
    assert_eq!(redacted(&rebuilt), redacted(&full.events()));
    assert_eq!(full_outcome.text, outcome.text);
    // The compact lines themselves, as a reader gets them.
    let text: String = lines
        .iter()
        .map(|l| format!("{}\n", serde_json::to_string(l).unwrap()))
        .collect();
    let read: Vec<CompactEvent> = perstack_events::CompactReader::new(text.as_bytes())
        .map(|item| match item {
            perstack_events::ReadItem::Event(e) => e,
            other @ (perstack_events::ReadItem::Invalid(_)
            | perstack_events::ReadItem::TornTail { .. }) => {
                panic!("unreadable compact line: {other:?}")
            }
        })
        .collect();
    assert_eq!(read, lines);
    let wire: Vec<Value> = lines
        .iter()
        .map(|l| redact(serde_json::to_value(l).unwrap()))
        .collect();
    insta::assert_json_snapshot!(wire);
}

/// Every message object (one with `type` ending in `Message`) in the compact lines, by id.
fn said_messages(lines: &[CompactEvent]) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                let is_message = map
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.ends_with("Message"));
                if is_message && let Some(id) = map.get("id").and_then(Value::as_str) {
                    out.push(id.to_string());
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
    let mut out = Vec::new();
    for l in lines {
        walk(&serde_json::to_value(l).unwrap(), &mut out);
    }
    out
}

#[tokio::test]
async fn each_message_is_said_once_and_steps_cost_the_same() {
    let mut h = Harness::new(script(30)).await;
    let lines = compact(&mut h);
    let outcome = h.run(h.setting("Echo thirty times")).await;
    let lines = lines.lock().unwrap().clone();
    let said = said_messages(&lines);
    let mut unique = said.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(said.len(), unique.len(), "a message was said twice");
    assert_eq!(said.len(), outcome.checkpoint.messages.len());
    // The bytes of step 3 and of step 28 (each a call, a result, a continue) are alike.
    let step_bytes = |n: u32| -> usize {
        lines
            .iter()
            .filter_map(|l| match l {
                CompactEvent::Run(r) if r.step_number == n => {
                    Some(serde_json::to_string(l).unwrap().len())
                }
                CompactEvent::Run(_) | CompactEvent::Runtime(_) | CompactEvent::Unknown(_) => None,
            })
            .sum()
    };
    let (early, late) = (step_bytes(3), step_bytes(28));
    assert!(
        late * 10 < early * 12,
        "step 28 took {late} bytes, step 3 {early}"
    );
}

#[tokio::test]
async fn delegations_rebuild_per_run() {
    let mut h = Harness::new(vec![]).await;
    h.llm.route(
        MAIN,
        vec![
            call("d1", "helper", json!({"query": "Find the answer"})),
            say("The helper says 42."),
        ],
    );
    h.llm.route(
        HELPER,
        vec![call("e1", "echo", json!({"text": "x"})), say("42")],
    );
    let lines = compact(&mut h);
    let outcome = h.run(h.setting("Ask the helper")).await;
    assert_eq!(outcome.text.as_deref(), Some("The helper says 42."));
    let rebuilt = rebuild(&lines.lock().unwrap());
    let stored = h.storage.read_job_events(&outcome.job.id).unwrap();
    assert_eq!(rebuilt, stored);
}
