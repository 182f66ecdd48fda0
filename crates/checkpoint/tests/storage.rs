//! Storage behaviour: round trips, linear growth, tamper evidence, crash safety.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;

use perstack_checkpoint::{Storage, StorageError, verify_event_log};
use perstack_core::{Checkpoint, CheckpointStatus, ExpertRef, Job, JobStatus, Message, Usage};
use perstack_events::{Event, RunEvent, RunEventMeta, RunEventPayload};
use pretty_assertions::assert_eq;

fn checkpoint(job: &str, run: &str, id: &str, step: u32, messages: Vec<Message>) -> Checkpoint {
    let expert = ExpertRef {
        key: "writer".into(),
        name: "writer".into(),
        version: "1.0.0".into(),
    };
    Checkpoint {
        status: CheckpointStatus::Proceeding,
        step_number: step,
        messages,
        ..Checkpoint::init(id, job, run, expert)
    }
}

fn job(id: &str, started_at: u64) -> Job {
    Job {
        id: id.into(),
        status: JobStatus::Running,
        coordinator_expert_key: "writer".into(),
        total_steps: 0,
        max_steps: Some(100),
        usage: Usage::default(),
        started_at,
        finished_at: None,
    }
}

fn event(text: &str) -> Event {
    let meta = RunEventMeta {
        job_id: "job1".into(),
        run_id: "run1".into(),
        expert_key: "writer".into(),
        step_number: 1,
    };
    RunEvent::new(
        &meta,
        RunEventPayload::StreamRunResult { delta: text.into() },
    )
    .into()
}

#[test]
fn checkpoint_round_trips_with_its_conversation() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let mut msgs = vec![Message::instruction("You write."), Message::user_text("hi")];
    let cp1 = checkpoint("job1", "run1", "cp1", 1, msgs.clone());
    s.store_checkpoint(&cp1).unwrap();
    msgs.push(Message::user_text("more"));
    let cp2 = checkpoint("job1", "run1", "cp2", 2, msgs);
    s.store_checkpoint(&cp2).unwrap();
    // A fresh Storage (another process) reads both back exactly.
    let s2 = Storage::new(ws.path());
    assert_eq!(s2.load_checkpoint("job1", "cp1").unwrap(), cp1);
    assert_eq!(s2.load_checkpoint("job1", "cp2").unwrap(), cp2);
    let ids: Vec<String> = s2
        .list_checkpoints("job1")
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["cp1", "cp2"]);
}

#[test]
fn bytes_written_per_step_track_the_new_content_not_the_history() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let mut msgs = vec![Message::instruction("You write.")];
    let mut stats = Vec::new();
    for step in 1..=300u32 {
        msgs.push(Message::user_text("x".repeat(1000)));
        let cp = checkpoint("job1", "run1", &format!("cp{step}"), step, msgs.clone());
        stats.push(s.store_checkpoint(&cp).unwrap());
    }
    let first = stats[1];
    let last = stats[299];
    // Each step appends one ~1 KB message, whatever the history length.
    assert!(last.message_bytes < 1200, "{last:?}");
    assert_eq!(last.message_bytes, first.message_bytes);
    // The checkpoint file does not grow with the conversation (only counters' digits).
    assert!(
        last.checkpoint_bytes <= first.checkpoint_bytes + 8,
        "{first:?} {last:?}"
    );
    let total: u64 = stats
        .iter()
        .map(|s| s.message_bytes + s.checkpoint_bytes)
        .sum();
    // A Perstack-style full rewrite would be ~300*301/2 KB ≈ 45 MB.
    assert!(total < 1_000_000, "total {total}");
    assert_eq!(s.load_checkpoint("job1", "cp300").unwrap().messages, msgs);
}

#[test]
fn a_rewritten_conversation_starts_a_new_log_and_old_checkpoints_still_load() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let a = vec![Message::user_text("a"), Message::user_text("b")];
    let cp1 = checkpoint("job1", "run1", "cp1", 1, a);
    s.store_checkpoint(&cp1).unwrap();
    let b = vec![Message::user_text("summary of a and b")];
    let cp2 = checkpoint("job1", "run1", "cp2", 2, b);
    s.store_checkpoint(&cp2).unwrap();
    assert_eq!(s.load_checkpoint("job1", "cp1").unwrap(), cp1);
    assert_eq!(s.load_checkpoint("job1", "cp2").unwrap(), cp2);
}

#[test]
fn parallel_runs_of_one_job_store_concurrently() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    std::thread::scope(|scope| {
        for r in 0..4 {
            let s = &s;
            scope.spawn(move || {
                let mut msgs = Vec::new();
                for step in 0..25u32 {
                    msgs.push(Message::user_text(format!("run {r} step {step}")));
                    let cp = checkpoint(
                        "job1",
                        &format!("run{r}"),
                        &format!("r{r}s{step}"),
                        step,
                        msgs.clone(),
                    );
                    s.store_checkpoint(&cp).unwrap();
                }
            });
        }
    });
    for r in 0..4 {
        let cp = s.load_checkpoint("job1", &format!("r{r}s24")).unwrap();
        assert_eq!(cp.messages.len(), 25);
        assert_eq!(cp.messages[24].text(), format!("run {r} step 24"));
    }
}

#[test]
fn edited_message_log_is_detected_on_load() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let cp = checkpoint(
        "job1",
        "run1",
        "cp1",
        1,
        vec![Message::user_text("original")],
    );
    s.store_checkpoint(&cp).unwrap();
    let log = ws
        .path()
        .join("perstack/jobs/job1/runs/run1/messages-0.jsonl");
    let text = std::fs::read_to_string(&log)
        .unwrap()
        .replace("original", "tampered");
    std::fs::write(&log, text).unwrap();
    let err = s.load_checkpoint("job1", "cp1").unwrap_err();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
}

#[test]
fn ids_that_could_escape_the_storage_folder_are_refused() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    for bad in ["../x", "a/b", "", ".", "..", "a\\b"] {
        assert!(
            matches!(s.load_job(bad), Err(StorageError::InvalidId { .. })),
            "{bad:?}"
        );
        let cp = checkpoint(bad, "run1", "cp1", 1, vec![]);
        assert!(s.store_checkpoint(&cp).is_err(), "{bad:?}");
    }
}

#[test]
fn jobs_list_newest_first_and_latest_is_found() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    assert_eq!(s.latest_job().unwrap(), None);
    s.store_job(&job("old", 1)).unwrap();
    s.store_job(&job("new", 3)).unwrap();
    s.store_job(&job("mid", 2)).unwrap();
    let ids: Vec<String> = s.list_jobs().unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(ids, ["new", "mid", "old"]);
    assert_eq!(s.latest_job().unwrap().unwrap().id, "new");
    assert!(matches!(
        s.load_job("nope"),
        Err(StorageError::JobNotFound { .. })
    ));
}

fn write_log(path_ws: &Path, n: usize) -> std::path::PathBuf {
    let s = Storage::new(path_ws);
    let mut log = s.open_event_log("job1", "run1").unwrap();
    for i in 0..n {
        log.append(&event(&format!("piece {i}")), false).unwrap();
    }
    s.layout().events_file("job1", "run1").unwrap()
}

#[test]
fn event_log_verifies_and_reads_back() {
    let ws = tempfile::tempdir().unwrap();
    let path = write_log(ws.path(), 5);
    let report = verify_event_log(&path).unwrap();
    assert_eq!(
        (report.lines, report.first_break.clone(), report.torn_tail),
        (5, None, false)
    );
    let s = Storage::new(ws.path());
    assert_eq!(s.read_events("job1", "run1").unwrap().len(), 5);
    assert_eq!(s.list_runs("job1").unwrap(), ["run1"]);
}

#[test]
fn an_altered_line_breaks_the_chain_at_the_next_line() {
    let ws = tempfile::tempdir().unwrap();
    let path = write_log(ws.path(), 5);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("piece 2", "piece X");
    std::fs::write(&path, text).unwrap();
    let report = verify_event_log(&path).unwrap();
    assert_eq!(report.first_break.map(|(l, _)| l), Some(4));
}

#[test]
fn a_removed_line_is_detected() {
    let ws = tempfile::tempdir().unwrap();
    let path = write_log(ws.path(), 5);
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&path, format!("{}\n", kept.join("\n"))).unwrap();
    let (line, reason) = verify_event_log(&path).unwrap().first_break.unwrap();
    assert_eq!(line, 2);
    assert!(reason.contains("sequence number 3"), "{reason}");
    // Appending to a broken log is refused rather than extending a forged chain.
    assert!(
        Storage::new(ws.path())
            .open_event_log("job1", "run1")
            .is_err()
    );
}

#[test]
fn a_torn_tail_is_not_tampering_and_appends_continue_the_chain() {
    let ws = tempfile::tempdir().unwrap();
    let path = write_log(ws.path(), 3);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"seq":4,"prev":"ab"#);
    std::fs::write(&path, bytes).unwrap();
    let report = verify_event_log(&path).unwrap();
    assert_eq!(
        (report.lines, report.torn_tail, report.first_break),
        (3, true, None)
    );
    let s = Storage::new(ws.path());
    let mut log = s.open_event_log("job1", "run1").unwrap();
    log.append(&event("after crash"), true).unwrap();
    let report = verify_event_log(&path).unwrap();
    assert_eq!(
        (report.lines, report.torn_tail, report.first_break),
        (4, false, None)
    );
}

#[test]
fn a_whole_last_line_without_its_newline_is_a_torn_tail_too() {
    let ws = tempfile::tempdir().unwrap();
    let path = write_log(ws.path(), 3);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.pop();
    std::fs::write(&path, bytes).unwrap();
    let report = verify_event_log(&path).unwrap();
    assert_eq!(
        (report.lines, report.torn_tail, report.first_break),
        (2, true, None)
    );
    let s = Storage::new(ws.path());
    let mut log = s.open_event_log("job1", "run1").unwrap();
    log.append(&event("after crash"), true).unwrap();
    let report = verify_event_log(&path).unwrap();
    assert_eq!(
        (report.lines, report.torn_tail, report.first_break),
        (3, false, None)
    );
}
