//! A step is durable once its event is in the (fdatasynced) event log: what a power loss
//! takes from the unsynced files derived from it (message-log lines, checkpoint files) is
//! written back from the log by `Storage::recover_job`, and what the log does not vouch for
//! (an edited file) is left alone. See docs/storage.md, "Crash safety".
//!
//! A power loss is simulated by what it can leave of files written without a sync: a
//! message log cut short (or zero-filled after its last synced block), checkpoint files
//! missing, empty, or back at their previous version.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::path::{Path, PathBuf};

use perstack_checkpoint::{Recovered, Storage, verify_event_log};
use perstack_core::Checkpoint;
use perstack_events::{Event, RunEventPayload};
use pretty_assertions::assert_eq;
use support::{Run, events_path};

/// Every checkpoint the events carry, last version of each id, in order of first sight.
fn carried(events: &[Event]) -> Vec<Checkpoint> {
    let mut out: Vec<Checkpoint> = Vec::new();
    for e in events {
        let Event::Run(r) = e else { continue };
        let mut cps = Vec::new();
        if let RunEventPayload::ContinueToNextStep { checkpoint, .. } = &r.payload {
            cps.push(checkpoint.clone());
        }
        cps.extend(r.payload.checkpoint().cloned());
        for cp in cps {
            match out.iter_mut().find(|c| c.id == cp.id) {
                Some(c) => *c = cp,
                None => out.push(cp),
            }
        }
    }
    out
}

fn message_log(ws: &Path) -> PathBuf {
    Storage::new(ws)
        .layout()
        .job_dir("job1")
        .unwrap()
        .join("runs/run1/messages-0.jsonl")
}

fn checkpoint_file(ws: &Path, id: &str) -> PathBuf {
    Storage::new(ws)
        .layout()
        .checkpoint_file("job1", id)
        .unwrap()
}

/// After recovery, a fresh reader loads every checkpoint as last emitted and reads the log
/// back exactly as emitted.
fn assert_whole(ws: &Path, emitted: &[Event]) {
    let reader = Storage::new(ws);
    for cp in carried(emitted) {
        assert_eq!(reader.load_checkpoint("job1", &cp.id).unwrap(), cp);
    }
    assert_eq!(reader.read_run_events("job1", "run1").unwrap(), emitted);
    let report = verify_event_log(&events_path(ws, "run1")).unwrap();
    assert_eq!(report.first_break, None);
    assert!(reader.unreadable_checkpoints("job1").unwrap().is_empty());
}

#[test]
fn lost_message_lines_and_checkpoint_files_are_rebuilt_from_the_event_log() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let mut run = Run::new(&s, "run1");
    let mut cp = run.start();
    run.steps(&mut cp, 1..=2, 100);
    // The file of the checkpoint step 3 starts from, as first written (step 2's next one).
    let next_id = "run1-cp3";
    let older = std::fs::read(checkpoint_file(ws.path(), next_id)).unwrap();
    run.steps(&mut cp, 3..=4, 100);
    run.complete(cp);
    let emitted = run.emitted.clone();
    drop(run);

    // The power loss: the message log keeps 3 lines and a zero-filled block, one checkpoint
    // file is gone, one empty, and one is back at its previous version.
    let log = message_log(ws.path());
    let text = std::fs::read_to_string(&log).unwrap();
    let kept: String = text.split_inclusive('\n').take(3).collect();
    let mut bytes = kept.into_bytes();
    bytes.extend([0u8; 512]);
    std::fs::write(&log, bytes).unwrap();
    std::fs::remove_file(checkpoint_file(ws.path(), "run1-cp2")).unwrap();
    std::fs::write(checkpoint_file(ws.path(), "run1-cp4"), b"").unwrap();
    std::fs::write(checkpoint_file(ws.path(), next_id), &older).unwrap();
    let before = Storage::new(ws.path());
    assert!(before.load_checkpoint("job1", "run1-cp5").is_err());

    let recovered = Storage::new(ws.path()).recover_job("job1").unwrap();
    assert_eq!(recovered.checkpoints, ["run1-cp2", "run1-cp3", "run1-cp4"]);
    assert!(recovered.message_lines > 0, "{recovered:?}");
    assert_whole(ws.path(), &emitted);
    // Nothing left to do: a second pass writes nothing.
    assert_eq!(
        Storage::new(ws.path()).recover_job("job1").unwrap(),
        Recovered::default()
    );
}

#[test]
fn a_whole_job_recovers_when_every_derived_file_is_lost() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let mut run = Run::new(&s, "run1");
    run.simulate(5, 300);
    let emitted = run.emitted.clone();
    drop(run);
    std::fs::remove_file(message_log(ws.path())).unwrap();
    let dir = Storage::new(ws.path())
        .layout()
        .checkpoints_dir("job1")
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let recovered = Storage::new(ws.path()).recover_job("job1").unwrap();
    assert_eq!(recovered.checkpoints.len(), carried(&emitted).len());
    assert_whole(ws.path(), &emitted);
}

#[test]
fn files_the_log_does_not_vouch_for_are_left_alone() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let mut run = Run::new(&s, "run1");
    run.simulate(3, 100);
    drop(run);
    // An edited checkpoint (no version the log carries) and a torn one (not a power-loss
    // shape of a replaced file): recovery does not overwrite evidence.
    let edited = checkpoint_file(ws.path(), "run1-cp2");
    let text = std::fs::read_to_string(&edited)
        .unwrap()
        .replace("\"stepNumber\":2", "\"stepNumber\":7");
    std::fs::write(&edited, &text).unwrap();
    let torn = checkpoint_file(ws.path(), "run1-cp3");
    std::fs::write(&torn, b"{\"format\": \"perstack-rs.checkpoint/1\", \"chec").unwrap();
    let recovered = Storage::new(ws.path()).recover_job("job1").unwrap();
    assert_eq!(recovered, Recovered::default());
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), text);
    assert_eq!(
        Storage::new(ws.path())
            .unreadable_checkpoints("job1")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_checkpoint_newer_than_the_log_is_kept_whole_and_removed_when_its_lines_were_lost() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let mut run = Run::new(&s, "run1");
    let mut cp = run.start();
    run.steps(&mut cp, 1..=2, 100);
    let emitted = run.emitted.clone();
    // Killed between storing the next step's checkpoint and logging its event.
    cp.id = "run1-unlogged".into();
    cp.messages
        .push(perstack_core::Message::user_text("never logged"));
    s.store_checkpoint(&cp).unwrap();
    drop(run);
    // A kill: the file is whole, newer than the log, and kept (continue may use it).
    assert_eq!(
        Storage::new(ws.path()).recover_job("job1").unwrap(),
        Recovered::default()
    );
    assert_eq!(
        Storage::new(ws.path())
            .load_checkpoint("job1", "run1-unlogged")
            .unwrap(),
        cp
    );
    // A power loss took the message line it refers to (never synced): the file is removed,
    // everything the log carries still loads.
    let log = message_log(ws.path());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    std::fs::write(&log, lines[..lines.len() - 1].concat()).unwrap();
    let recovered = Storage::new(ws.path()).recover_job("job1").unwrap();
    assert_eq!(recovered.removed, ["run1-unlogged"]);
    assert!(!checkpoint_file(ws.path(), "run1-unlogged").exists());
    assert_whole(ws.path(), &emitted);
}
