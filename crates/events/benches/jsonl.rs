//! JSON Lines write and read throughput (prints `bench:` lines for `cargo xtask bench`).

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::io::Cursor;
use std::time::Instant;

use perstack_events::{
    Event, JsonlReader, JsonlWriter, ReadItem, RunEvent, RunEventMeta, RunEventPayload,
};

fn main() {
    let meta = RunEventMeta {
        job_id: "job1".into(),
        run_id: "run1".into(),
        expert_key: "writer".into(),
        step_number: 3,
    };
    let events: Vec<Event> = (0..20_000)
        .map(|i| {
            let payload = if i % 2 == 0 {
                RunEventPayload::StreamRunResult {
                    delta: format!("token {i} "),
                }
            } else {
                RunEventPayload::FinishAllToolCalls {
                    new_messages: vec![perstack_core::Message::user_text("x".repeat(400))],
                }
            };
            RunEvent::new(&meta, payload).into()
        })
        .collect();
    let start = Instant::now();
    let mut w = JsonlWriter::new(Vec::with_capacity(16 << 20));
    for e in &events {
        w.write(e).unwrap();
    }
    let bytes = w.into_inner();
    let write = start.elapsed();
    let start = Instant::now();
    let n = JsonlReader::new(Cursor::new(&bytes))
        .filter(|i| matches!(i, ReadItem::Event(_)))
        .count();
    let read = start.elapsed();
    assert_eq!(n, events.len());
    let mb = bytes.len() as f64 / 1e6;
    println!(
        "bench: events.jsonl_write: {:.0} events/s, {:.1} MB/s ({} events, {:.1} MB)",
        events.len() as f64 / write.as_secs_f64(),
        mb / write.as_secs_f64(),
        events.len(),
        mb
    );
    println!(
        "bench: events.jsonl_read: {:.0} events/s, {:.1} MB/s",
        n as f64 / read.as_secs_f64(),
        mb / read.as_secs_f64()
    );
}
