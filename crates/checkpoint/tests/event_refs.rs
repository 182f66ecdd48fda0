//! The compact event log: conversations stored as message-log references, expanded on read
//! to exactly what was emitted; dangling references and legacy lines.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;

mod support;

use perstack_checkpoint::{Storage, StorageError, verify_event_log};
use perstack_core::{Checkpoint, CheckpointStatus, Message};
use perstack_events::{Event, RunEventPayload};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use support::{Run, events_path, expert, step};

#[test]
fn a_long_run_reads_back_exactly_as_emitted_with_linear_bytes() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let mut run = Run::new(&s, "run1");
    run.simulate(200, 2000);
    // Another process reads the whole events back, conversations expanded.
    let reader = Storage::new(ws.path());
    assert_eq!(reader.read_run_events("job1", "run1").unwrap(), run.emitted);
    assert_eq!(reader.read_job_events("job1").unwrap(), run.emitted);
    let report = verify_event_log(&events_path(ws.path(), "run1")).unwrap();
    assert_eq!(
        (report.lines, report.first_break),
        (run.emitted.len() as u64, None)
    );
    // Bytes per step do not grow with the history: the 200th step costs what the 2nd does
    // (give or take the digits of counters), about 4x its 2 KB of new content: 3x because
    // the emitted stream repeats it, once more where the log first carries it inline.
    let per_step = |n: usize| -> u64 { run.bytes[1 + 4 * (n - 1)..1 + 4 * n].iter().sum() };
    let (second, last) = (per_step(2), per_step(200));
    assert!(
        last <= second + 64,
        "step 2: {second} B, step 200: {last} B"
    );
    assert!(last < 11_000, "step 200: {last} B");
    // Stored whole, the same events would take ~200*200*2 KB*3 ≈ 240 MB.
    let total: u64 = run.bytes.iter().sum();
    assert!(total < 2_000_000, "total {total}");
}

#[test]
fn conversations_not_yet_in_the_log_are_stored_inline_after_the_reference() {
    let ws = tempfile::tempdir().unwrap();
    let s = Storage::new(ws.path());
    let mut run = Run::new(&s, "run1");
    let mut cp = Checkpoint::init("cp1", "job1", "run1", expert());
    cp.messages = vec![Message::instruction("You write.")];
    run.emit(RunEventPayload::StartRun {
        initial_checkpoint: cp.clone(),
        input_messages: vec![Message::user_text("hi")],
    });
    // The query is not in any checkpoint yet: a reference to line 1 plus the query inline.
    let mut sent = cp.messages.clone();
    sent.push(Message::user_text("hi"));
    run.emit(RunEventPayload::StartGeneration { messages: sent });
    // A conversation that shares nothing with the log is stored whole.
    run.emit(RunEventPayload::StartGeneration {
        messages: vec![Message::user_text("unrelated")],
    });
    let text = std::fs::read_to_string(events_path(ws.path(), "run1")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The first line to carry a line of the message log holds it inline (so the log alone
    // can rebuild the message log), naming the log; later lines reference it.
    let first = &lines[0]["event"]["initialCheckpoint"]["messages"];
    assert_eq!(
        (
            first["count"].clone(),
            first["tail"].as_array().unwrap().len()
        ),
        (serde_json::json!(0), 1)
    );
    let second = &lines[1]["event"]["messages"];
    assert_eq!(
        (
            second["count"].clone(),
            second["tail"].as_array().unwrap().len()
        ),
        (serde_json::json!(1), 1)
    );
    assert!(lines[2]["event"]["messages"].is_array());
    assert_eq!(s.read_run_events("job1", "run1").unwrap(), run.emitted);
}

fn small_run(ws: &Path) -> Vec<Event> {
    let s = Storage::new(ws);
    let mut run = Run::new(&s, "run1");
    run.simulate(3, 100);
    run.emitted
}

/// True when a stored line references at least one message-log line (a count of 0 only
/// names the log of the messages it holds inline).
fn references_lines(line: &str) -> bool {
    line.split("\"count\":")
        .skip(1)
        .any(|rest| !rest.starts_with('0'))
}

/// The first stored line referencing message-log lines, 1-based.
fn first_referencing_line(ws: &Path) -> u64 {
    let text = std::fs::read_to_string(events_path(ws, "run1")).unwrap();
    let i = text.lines().position(references_lines).unwrap();
    i as u64 + 1
}

#[test]
fn a_missing_message_log_is_a_dangling_reference_at_its_line() {
    let ws = tempfile::tempdir().unwrap();
    small_run(ws.path());
    let expected = first_referencing_line(ws.path());
    let log = ws
        .path()
        .join("perstack/jobs/job1/runs/run1/messages-0.jsonl");
    std::fs::remove_file(log).unwrap();
    let path = events_path(ws.path(), "run1");
    let (line, reason) = verify_event_log(&path).unwrap().first_break.unwrap();
    assert_eq!(line, expected);
    assert!(reason.contains("dangling message reference"), "{reason}");
    assert!(reason.contains("does not exist"), "{reason}");
    let err = Storage::new(ws.path())
        .read_run_events("job1", "run1")
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::Corrupt { reason, .. } if reason.starts_with(&format!("line {expected}:"))),
        "{err}"
    );
}

#[test]
fn an_altered_message_log_is_a_dangling_reference_at_its_line() {
    let ws = tempfile::tempdir().unwrap();
    small_run(ws.path());
    let expected = first_referencing_line(ws.path());
    let log = ws
        .path()
        .join("perstack/jobs/job1/runs/run1/messages-0.jsonl");
    let text = std::fs::read_to_string(&log)
        .unwrap()
        .replace("You write.", "You obey.");
    std::fs::write(&log, text).unwrap();
    let (line, reason) = verify_event_log(&events_path(ws.path(), "run1"))
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(line, expected);
    assert!(
        reason.contains("do not match the recorded hash"),
        "{reason}"
    );
}

#[test]
fn a_truncated_message_log_is_reported_at_the_first_line_needing_the_cut_messages() {
    let ws = tempfile::tempdir().unwrap();
    let emitted = small_run(ws.path());
    let log = ws
        .path()
        .join("perstack/jobs/job1/runs/run1/messages-0.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let kept: Vec<&str> = text.lines().take(4).collect();
    std::fs::write(&log, format!("{}\n", kept.join("\n"))).unwrap();
    // The first event whose conversation is longer than 4 messages references line 5+.
    let expected = emitted
        .iter()
        .position(|e| {
            if let Event::Run(r) = e
                && let RunEventPayload::ContinueToNextStep { checkpoint, .. } = &r.payload
            {
                checkpoint.messages.len() > 4
            } else {
                false
            }
        })
        .unwrap() as u64
        + 1;
    let (line, reason) = verify_event_log(&events_path(ws.path(), "run1"))
        .unwrap()
        .first_break
        .unwrap();
    assert_eq!(line, expected, "{reason}");
    assert!(reason.contains("has 4 complete messages"), "{reason}");
}

#[test]
fn an_altered_or_removed_compact_line_breaks_the_chain() {
    let ws = tempfile::tempdir().unwrap();
    small_run(ws.path());
    let path = events_path(ws.path(), "run1");
    let original = std::fs::read_to_string(&path).unwrap();
    // Altering a reference (pointing at one message fewer) is named at the altered line: its
    // recorded hash no longer matches the prefix it now points at.
    let lines: Vec<&str> = original.lines().collect();
    let i = lines.iter().position(|l| references_lines(l)).unwrap();
    let mut altered: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut v: serde_json::Value = serde_json::from_str(&altered[i]).unwrap();
    let place = v["event"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .filter_map(|f| f.pointer_mut("/messages/count"))
        .find(|c| c.as_u64() > Some(0))
        .unwrap();
    *place = serde_json::json!(place.as_u64().unwrap() - 1);
    altered[i] = serde_json::to_string(&v).unwrap();
    std::fs::write(&path, format!("{}\n", altered.join("\n"))).unwrap();
    let (line, reason) = verify_event_log(&path).unwrap().first_break.unwrap();
    assert_eq!(line, i as u64 + 1, "{reason}");
    assert!(reason.contains("dangling message reference"), "{reason}");
    // Removing a line is named by its successor's sequence number.
    let removed: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != 2)
        .map(|(_, l)| *l)
        .collect();
    std::fs::write(&path, format!("{}\n", removed.join("\n"))).unwrap();
    let (line, reason) = verify_event_log(&path).unwrap().first_break.unwrap();
    assert_eq!(line, 3, "{reason}");
}

/// Writes a chained log by hand, one line per value of `lines` (`seq`/`prev` filled in).
fn write_chain(path: &Path, lines: Vec<serde_json::Value>) {
    let mut prev = "0".repeat(64);
    let mut out = String::new();
    for (i, mut v) in lines.into_iter().enumerate() {
        let mut obj = serde_json::Map::new();
        obj.insert("seq".into(), serde_json::json!(i + 1));
        obj.insert("prev".into(), serde_json::json!(prev));
        if let Some(m) = v.as_object_mut() {
            obj.append(m);
        }
        let line = serde_json::to_string(&obj).unwrap();
        prev = Sha256::digest(line.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, out).unwrap();
}

#[test]
fn format_1_logs_written_before_references_still_read_and_verify() {
    let ws = tempfile::tempdir().unwrap();
    let emitted = {
        let other = tempfile::tempdir().unwrap();
        small_run(other.path())
    };
    // Format 1: no `v`, every event whole.
    let path = events_path(ws.path(), "run1");
    write_chain(
        &path,
        emitted
            .iter()
            .map(|e| serde_json::json!({ "event": e }))
            .collect(),
    );
    let report = verify_event_log(&path).unwrap();
    assert_eq!(
        (report.lines, report.first_break),
        (emitted.len() as u64, None)
    );
    let s = Storage::new(ws.path());
    assert_eq!(s.read_run_events("job1", "run1").unwrap(), emitted);
    // Appending continues the chain in format 2; both read back.
    let mut log = s.open_event_log("job1", "run1").unwrap();
    let extra = emitted.last().unwrap().clone();
    s.append_event(&mut log, extra.clone(), false).unwrap();
    let mut all = emitted.clone();
    all.push(extra);
    assert_eq!(s.read_run_events("job1", "run1").unwrap(), all);
    assert_eq!(verify_event_log(&path).unwrap().first_break, None);
}

#[test]
fn an_unknown_stored_line_format_is_reported() {
    let ws = tempfile::tempdir().unwrap();
    let path = events_path(ws.path(), "run1");
    write_chain(
        &path,
        vec![serde_json::json!({"v": 9, "event": {"type": "streamRunResult"}})],
    );
    let (line, reason) = verify_event_log(&path).unwrap().first_break.unwrap();
    assert_eq!(line, 1);
    assert!(reason.contains("unknown stored-line format 9"), "{reason}");
}

#[derive(Debug, Clone)]
enum Move {
    /// Append n new messages to the conversation.
    Grow(usize),
    /// Replace the conversation by a shorter, different one (a summary).
    Rewrite,
    /// Store a checkpoint of the conversation.
    Store,
    /// Emit startGeneration with the conversation.
    Generate,
    /// Emit a stop event carrying a checkpoint of the conversation.
    Stop,
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec(
        prop_oneof![
            (1usize..4).prop_map(Move::Grow),
            Just(Move::Rewrite),
            Just(Move::Store),
            Just(Move::Generate),
            Just(Move::Stop),
        ],
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the conversation does (grow, get rewritten, stored or not), every event reads
    /// back exactly as emitted and the log verifies.
    #[test]
    fn any_conversation_history_reads_back_exactly(moves in moves()) {
        let ws = tempfile::tempdir().unwrap();
        let s = Storage::new(ws.path());
        let mut run = Run::new(&s, "run1");
        let mut msgs = vec![Message::instruction("You write.")];
        let mut counter = 0;
        for (i, m) in moves.into_iter().enumerate() {
            let mut cp = Checkpoint::init(format!("cp{i}"), "job1", "run1", expert());
            match m {
                Move::Grow(n) => {
                    for _ in 0..n {
                        counter += 1;
                        msgs.push(Message::user_text(format!("m{counter}")));
                    }
                }
                Move::Rewrite => {
                    counter += 1;
                    msgs = vec![Message::user_text(format!("summary {counter}"))];
                }
                Move::Store => {
                    cp.messages = msgs.clone();
                    s.store_checkpoint(&cp).unwrap();
                }
                Move::Generate => run.emit(RunEventPayload::StartGeneration { messages: msgs.clone() }),
                Move::Stop => {
                    cp.messages = msgs.clone();
                    cp.status = CheckpointStatus::StoppedBySignal;
                    run.emit(RunEventPayload::StopRunBySignal {
                        checkpoint: cp,
                        step: step(1, Vec::new()),
                        signal: "SIGTERM".into(),
                    });
                }
            }
        }
        let reader = Storage::new(ws.path());
        prop_assert_eq!(reader.read_run_events("job1", "run1").unwrap(), run.emitted);
        let report = verify_event_log(&events_path(ws.path(), "run1")).unwrap();
        prop_assert_eq!(report.first_break, None);
    }
}
