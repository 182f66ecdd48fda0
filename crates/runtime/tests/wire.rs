//! The exact event stream of a run, on the wire (ids and times redacted).

mod support;

use serde_json::{Value, json};
use support::script::{Turn, call};
use support::{Harness, redact};

#[tokio::test]
async fn tool_use_run_events_on_the_wire() {
    let h = Harness::new(vec![
        call("c1", "echo", json!({"text": "hi"})),
        Turn::new().text(&["Done."]).usage(30, 3).reply(),
    ])
    .await;
    let outcome = h.run(h.setting("Say hi")).await;
    assert_eq!(outcome.text.as_deref(), Some("Done."));
    let events: Vec<Value> = h
        .events()
        .iter()
        .map(|e| redact(serde_json::to_value(e).unwrap()))
        .collect();
    insta::assert_json_snapshot!(events);
}
