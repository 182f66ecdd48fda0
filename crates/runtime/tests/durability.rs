//! One durable sync per step: the real runtime storing a multi-step run, with the storage
//! layer's counting hook (`Storage::sync_stats`) read at every event. See docs/storage.md,
//! "Crash safety".

mod support;

use std::sync::{Arc, Mutex};

use perstack_core::CheckpointStatus;
use perstack_events::Event;
use perstack_runtime::{EventListener, Runtime, SharedToolHost};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::Harness;
use support::script::{call, say};

/// Tool-using steps of the run.
const STEPS: usize = 25;

#[tokio::test]
async fn a_step_makes_at_most_one_durable_sync_and_files_are_not_synced() {
    let mut replies: Vec<_> = (0..STEPS)
        .map(|i| {
            call(
                &format!("c{i}"),
                "echo",
                json!({"text": format!("step {i}")}),
            )
        })
        .collect();
    replies.push(say("Done."));
    let h = Harness::new(replies).await;
    // (event type, step, sync stats once the event was stored)
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (storage, record, all) = (
        Arc::clone(&h.storage),
        Arc::clone(&seen),
        Arc::clone(&h.listener),
    );
    let listener = move |e: &Event| {
        all.on_event(e);
        let step = match e {
            Event::Run(r) => r.step_number,
            Event::Runtime(_) | Event::Unknown(_) => 0,
        };
        record
            .lock()
            .unwrap()
            .push((e.type_name().to_string(), step, storage.sync_stats()));
    };
    let runtime = Runtime::new(h.provider.clone(), Arc::new(SharedToolHost(h.host.clone())))
        .with_storage(Arc::clone(&h.storage))
        .with_listener(Arc::new(listener));
    let outcome = runtime.run(h.setting("Do the steps")).await.unwrap();
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    let seen = seen.lock().unwrap().clone();

    // A step ends with the event that carries its checkpoint; from the end of one step to the
    // end of the next, storage may make one sync: the fdatasync of that event's line.
    let ends: Vec<_> = seen
        .iter()
        .filter(|(t, ..)| t == "continueToNextStep" || t == "completeRun")
        .collect();
    assert_eq!(ends.len(), STEPS + 1);
    for pair in ends.windows(2) {
        let (before, after) = (&pair[0].2, &pair[1].2);
        assert_eq!(
            (
                after.fsync - before.fsync,
                after.fdatasync - before.fdatasync
            ),
            (0, 1),
            "syncs during step {}",
            pair[1].1
        );
        // The checkpoint files and job.json are replaced, not synced (2 checkpoints + job).
        assert!(after.rename - before.rename <= 3, "{before:?} -> {after:?}");
    }
    // Up to the first LLM request nothing waits for the disk: creating the job and the run
    // and the startRun line are made durable with the first step's sync.
    let first_request = seen.iter().find(|(t, ..)| t == "startGeneration").unwrap();
    assert_eq!(first_request.2.syncs(), 0, "{first_request:?}");
    // Before the first step ends: creating the job (job.json and its folders, the run's
    // event log and its folders) plus the startRun line; never per step.
    let first = &ends[0].2;
    assert!(
        first.syncs() <= 12,
        "syncs before the first step ended: {first:?}"
    );
    let last = seen.last().unwrap().2;
    assert!(
        last.syncs() <= first.syncs() + STEPS as u64,
        "{STEPS} more steps: {first:?} -> {last:?}"
    );
    // What was stored reads back exactly as emitted.
    h.assert_stored(&outcome);
}
