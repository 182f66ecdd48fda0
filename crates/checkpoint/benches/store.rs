//! Checkpoint storage cost per step over a long run, against Perstack's full-rewrite format
//! (prints `bench:` lines for `cargo xtask bench`).

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::time::Instant;

use perstack_checkpoint::Storage;
use perstack_core::{Checkpoint, CheckpointStatus, ExpertRef, Message};

fn main() {
    let steps = 500u32;
    let ws = tempfile::tempdir().unwrap();
    let storage = Storage::new(ws.path());
    let mut messages = vec![Message::instruction("You write.")];
    let mut ours = 0u64;
    let mut full_rewrite = 0u64;
    let start = Instant::now();
    for step in 1..=steps {
        // A step adds the model's message and a tool result, ~2 KB together.
        messages.push(Message::user_text("a".repeat(1000)));
        messages.push(Message::user_text("b".repeat(1000)));
        let expert = ExpertRef {
            key: "w".into(),
            name: "w".into(),
            version: "1.0.0".into(),
        };
        let cp = Checkpoint {
            status: CheckpointStatus::Proceeding,
            step_number: step,
            messages: messages.clone(),
            ..Checkpoint::init(format!("cp{step}"), "job1", "run1", expert)
        };
        let s = storage.store_checkpoint(&cp).unwrap();
        ours += s.message_bytes + s.checkpoint_bytes;
        full_rewrite += serde_json::to_vec(&cp).unwrap().len() as u64;
    }
    let elapsed = start.elapsed();
    println!(
        "bench: checkpoint.store {steps} steps (2 KB new per step): {:.2} ms per step (not synced: the event log's fdatasync makes a step durable)",
        elapsed.as_secs_f64() * 1e3 / f64::from(steps)
    );
    println!(
        "bench: checkpoint.bytes_written: ours {:.2} MB ({:.1} KB/step), full-rewrite format {:.1} MB ({:.0}x more)",
        ours as f64 / 1e6,
        ours as f64 / 1e3 / f64::from(steps),
        full_rewrite as f64 / 1e6,
        full_rewrite as f64 / ours as f64
    );
    let start = Instant::now();
    let cp = storage
        .load_checkpoint("job1", &format!("cp{steps}"))
        .unwrap();
    println!(
        "bench: checkpoint.load last ({} messages): {:.2} ms",
        cp.messages.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
}
