//! kill -9 at random points of a long `perstack run`: the job is never left unloadable
//! (`perstack log --verify` passes, a torn last line included), and `--continue-job` with a
//! fresh script finishes it.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::time::Duration;

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{Endpoint, Setup, assert_completed, text};

/// Tool-using steps of the long run.
const STEPS: usize = 12;
/// Kill points tried, each at a random event count plus a random few milliseconds.
const ITERATIONS: u64 = 20;
/// Fixed so a failure can be replayed; set `PERSTACK_KILL9_SEED` to explore other points.
const DEFAULT_SEED: u64 = 0x5eed_6b11_9e37_79b9;

/// SplitMix64: a tiny seeded generator (no dependency needed for a test loop).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A long conversation: each step writes a file, appends to a journal, or reads one back;
/// every answer is held back a little so kills land inside generations too.
fn long_script() -> Vec<Turn> {
    let mut turns = Vec::new();
    for i in 0..STEPS {
        let turn = match i % 3 {
            0 => Turn::call(
                "writeTextFile",
                json!({"path": format!("step-{i}.md"), "text": format!("step {i}\n")}),
            ),
            1 => Turn::call(
                "appendTextFile",
                json!({"path": "journal.md", "text": format!("did step {i}\n")}),
            ),
            _ => Turn::call(
                "readTextFile",
                json!({"path": format!("step-{}.md", i - 2)}),
            ),
        };
        turns.push(turn.delayed(20));
    }
    turns.push(Turn::text("All steps done.").delayed(20));
    turns
}

/// What the model says after a resume, wherever the kill landed.
fn rest_script() -> Vec<Turn> {
    vec![
        Turn::call(
            "appendTextFile",
            json!({"path": "journal.md", "text": "resumed\n"}),
        ),
        Turn::text("Finished after the crash."),
    ]
}

#[derive(Debug, Default)]
struct Tally {
    before_job: u32,
    before_first_step: u32,
    killed_mid_run: u32,
    finished_before_kill: u32,
    torn_tails: u32,
}

/// How far a killed job got, from what storage holds.
enum Progress {
    NoJob,
    NotStarted,
    MidRun,
    Completed,
}

fn stored_progress(setup: &Setup, job: &str) -> Progress {
    if !setup.job_dir(job).join("job.json").exists() {
        return Progress::NoJob;
    }
    let statuses: Vec<String> = std::fs::read_dir(setup.job_dir(job).join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            v["checkpoint"]["status"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    if statuses.iter().any(|s| s == "completed") {
        Progress::Completed
    } else if statuses.iter().all(|s| s == "init") {
        Progress::NotStarted
    } else {
        Progress::MidRun
    }
}

#[test]
fn kill_9_at_random_points_never_leaves_an_unloadable_job_and_resume_finishes_it() {
    let seed = std::env::var("PERSTACK_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let mut rng = Rng(seed);
    // A full run's event count, to spread the kill points over the whole run.
    let full = {
        let llm = ScriptedLlm::start(long_script()).unwrap();
        let setup = Setup::new();
        let done = setup.run(&Endpoint::openai(&llm.base_url), &[], "Do the steps");
        assert_completed(&done);
        done.events.len() as u64
    };
    let mut tally = Tally::default();
    for i in 0..ITERATIONS {
        let after_events = rng.below(full);
        let extra_ms = rng.below(30);
        let context =
            format!("seed {seed}, iteration {i}: kill after {after_events} events + {extra_ms} ms");
        let job = format!("kill9-{i}");
        let setup = Setup::new();
        let llm = ScriptedLlm::start(long_script()).unwrap();
        let mut run = setup.spawn(
            &Endpoint::openai(&llm.base_url),
            &["--job-id", &job],
            "Do the steps",
        );
        run.wait_until(perstack_testkit::PATIENCE, |ev| {
            ev.len() as u64 >= after_events
        });
        std::thread::sleep(Duration::from_millis(extra_ms));
        run.kill().unwrap();
        let killed = run.finish().unwrap();
        // Killed, or (when the kill came after the end) exited normally.
        assert!(
            matches!(killed.code(), None | Some(0)),
            "{context}: {:?} {}",
            killed.code(),
            killed.stderr
        );

        let query = match stored_progress(&setup, &job) {
            // Killed before the job was recorded: nothing to load; the id is free to start
            // the job anew.
            Progress::NoJob => {
                tally.before_job += 1;
                "Do the steps"
            }
            // Killed before its first run stored a step: continuing starts it over, which
            // needs the query again.
            Progress::NotStarted => {
                tally.before_first_step += 1;
                "Do the steps"
            }
            // The job was done; there is nothing to resume.
            Progress::Completed => {
                tally.finished_before_kill += 1;
                setup.assert_verified(&job);
                continue;
            }
            Progress::MidRun => {
                tally.killed_mid_run += 1;
                ""
            }
        };
        if setup.job_dir(&job).join("job.json").exists() {
            let verify = setup.verify(&job);
            let report = text(&verify.stdout);
            assert_eq!(
                verify.status.code(),
                Some(0),
                "{context}: log --verify after the kill:\n{report}{}",
                text(&verify.stderr)
            );
            if report.contains("torn") {
                tally.torn_tails += 1;
            }
        }

        let rest = ScriptedLlm::start(if query.is_empty() {
            rest_script()
        } else {
            long_script()
        })
        .unwrap();
        let how = if setup.job_dir(&job).join("job.json").exists() {
            ["--continue-job", job.as_str()]
        } else {
            ["--job-id", job.as_str()]
        };
        let done = setup.run(&Endpoint::openai(&rest.base_url), &how, query);
        assert_eq!(
            done.code(),
            Some(0),
            "{context}: resume failed: {}\nevents: {:?}",
            done.stderr,
            done.types()
        );
        assert_completed(&done);
        setup.assert_verified(&job);
        assert_eq!(setup.job(&job)["status"], "completed", "{context}");
    }
    eprintln!("kill -9 loop (seed {seed}): {tally:?}");
    assert!(
        tally.killed_mid_run > 0,
        "no kill landed inside a run: {tally:?}"
    );
}

/// A crash in the middle of appending an event leaves the last line cut at some byte; the log
/// must still verify (the torn line is ignored) wherever the cut falls, and the job must
/// continue. Cuts: the first byte, the middle, and just the newline (the JSON is whole).
#[test]
fn a_last_line_cut_at_any_byte_still_verifies_and_the_job_continues() {
    let llm = ScriptedLlm::start(long_script()).unwrap();
    let setup = Setup::new();
    let done = setup.run(
        &Endpoint::openai(&llm.base_url),
        &["--job-id", "torn"],
        "Do the steps",
    );
    assert_completed(&done);
    let runs = setup.job_dir("torn").join("runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let log = run.join("events.jsonl");
    let whole = std::fs::read(&log).unwrap();
    let last_start = whole[..whole.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let last_len = whole.len() - last_start;
    for keep in [1, last_len / 2, last_len - 1] {
        std::fs::write(&log, &whole[..last_start + keep]).unwrap();
        let verify = setup.verify("torn");
        let report = text(&verify.stdout);
        assert_eq!(
            verify.status.code(),
            Some(0),
            "cut after {keep} of {last_len} bytes of the last line:\n{report}{}",
            text(&verify.stderr)
        );
        assert!(report.contains("torn"), "{report}");
    }
    let more = ScriptedLlm::start(vec![Turn::text("And one more thing done.")]).unwrap();
    let again = setup.run(
        &Endpoint::openai(&more.base_url),
        &["--continue-job", "torn"],
        "One more thing",
    );
    assert_completed(&again);
    setup.assert_verified("torn");
}

/// Killed while its skills were still starting, a job has a record but no checkpoint yet:
/// `--continue-job` starts it over with the query given then.
#[test]
fn a_job_killed_before_its_first_checkpoint_starts_over_on_continue() {
    let setup = Setup::new();
    setup.write_config(&format!(
        "{}\n[experts.\"worker\".skills.\"slow\"]\ntype = \"mcpStdioSkill\"\ncommand = \"sleep\"\nargs = [\"20\"]\n",
        support::CONFIG
    ));
    let llm = ScriptedLlm::start(long_script()).unwrap();
    let mut run = setup.spawn(
        &Endpoint::openai(&llm.base_url),
        &["--job-id", "early"],
        "Do the steps",
    );
    assert!(run.wait_for_event("skillStarting"), "{}", run.stderr());
    run.kill().unwrap();
    assert_eq!(run.finish().unwrap().code(), None);
    assert!(setup.job_dir("early").join("job.json").exists());
    assert!(matches!(
        stored_progress(&setup, "early"),
        Progress::NotStarted
    ));
    setup.assert_verified("early");

    setup.write_config(support::CONFIG);
    let done = setup.run(
        &Endpoint::openai(&llm.base_url),
        &["--continue-job", "early"],
        "Do the steps",
    );
    assert_completed(&done);
    assert_eq!(setup.job("early")["status"], "completed");
    setup.assert_verified("early");
}

/// True when a stored line's event carries a checkpoint: the lines storage fdatasyncs.
fn carries_checkpoint(line: &serde_json::Value) -> bool {
    ["checkpoint", "nextCheckpoint", "initialCheckpoint"]
        .iter()
        .any(|k| line["event"].get(*k).is_some())
}

/// Power-loss iterations (each a kill followed by a simulated loss).
const POWER_LOSSES: u64 = 8;

/// A power loss after a kill at a random point: the event log keeps only what was synced (up
/// to its last line carrying a checkpoint), and the files written without a sync (message
/// logs, checkpoint files) lose any part: lines cut (with a zero-filled tail or not), files
/// deleted or emptied. `--continue-job` rebuilds them from the log, resumes from the last
/// synced step or later (no synced step is lost), finishes the job, and the job verifies.
#[test]
fn a_power_loss_after_a_kill_loses_no_synced_step_and_the_job_continues() {
    let seed = std::env::var("PERSTACK_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
        ^ 0x0070_0e51;
    let mut rng = Rng(seed);
    let full = {
        let llm = ScriptedLlm::start(long_script()).unwrap();
        let setup = Setup::new();
        let done = setup.run(&Endpoint::openai(&llm.base_url), &[], "Do the steps");
        assert_completed(&done);
        done.events.len() as u64
    };
    let mut resumed = 0;
    for i in 0..POWER_LOSSES {
        let after_events = rng.below(full);
        let context = format!("seed {seed}, iteration {i}: kill after {after_events} events");
        let job = format!("power-{i}");
        let setup = Setup::new();
        let llm = ScriptedLlm::start(long_script()).unwrap();
        let mut run = setup.spawn(
            &Endpoint::openai(&llm.base_url),
            &["--job-id", &job],
            "Do the steps",
        );
        run.wait_until(perstack_testkit::PATIENCE, |ev| {
            ev.len() as u64 >= after_events
        });
        run.kill().unwrap();
        run.finish().unwrap();
        let Some(run_dir) = std::fs::read_dir(setup.job_dir(&job).join("runs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .next()
        else {
            continue; // killed before the run's log existed
        };
        let log = run_dir.join("events.jsonl");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let parsed: Vec<serde_json::Value> = lines
            .iter()
            .map_while(|l| serde_json::from_str(l).ok())
            .collect();
        let Some(last) = parsed.iter().rposition(carries_checkpoint) else {
            continue;
        };
        let event = &parsed[last]["event"];
        let synced_step = match event["type"].as_str().unwrap() {
            // Not started, or done: covered by the kill -9 tests.
            "startRun" | "completeRun" => continue,
            "continueToNextStep" => event["nextCheckpoint"]["stepNumber"].as_u64().unwrap(),
            _ => event["checkpoint"]["stepNumber"].as_u64().unwrap(),
        };

        // The power loss.
        std::fs::write(&log, format!("{}\n", lines[..=last].join("\n"))).unwrap();
        for entry in std::fs::read_dir(&run_dir).unwrap().flatten() {
            let path = entry.path();
            if !path.to_string_lossy().contains("messages-") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let all: Vec<&str> = text.split_inclusive('\n').collect();
            let keep = rng.below(all.len() as u64 + 1) as usize;
            let mut bytes = all[..keep].concat().into_bytes();
            if rng.below(2) == 0 {
                bytes.extend([0u8; 300]);
            }
            std::fs::write(&path, bytes).unwrap();
        }
        for entry in std::fs::read_dir(setup.job_dir(&job).join("checkpoints"))
            .unwrap()
            .flatten()
        {
            match rng.below(3) {
                0 => {}
                1 => std::fs::remove_file(entry.path()).unwrap(),
                _ => std::fs::write(entry.path(), b"").unwrap(),
            }
        }

        let rest = ScriptedLlm::start(rest_script()).unwrap();
        let done = setup.run(
            &Endpoint::openai(&rest.base_url),
            &["--continue-job", job.as_str()],
            "",
        );
        assert_eq!(
            done.code(),
            Some(0),
            "{context}: resume failed: {}\nevents: {:?}",
            done.stderr,
            done.types()
        );
        assert_completed(&done);
        let start = done
            .events
            .iter()
            .find(|e| e["type"] == "startRun")
            .unwrap();
        let from = start["initialCheckpoint"]["stepNumber"].as_u64().unwrap();
        assert!(
            from >= synced_step,
            "{context}: resumed from step {from}, the last synced step was {synced_step}"
        );
        setup.assert_verified(&job);
        assert_eq!(setup.job(&job)["status"], "completed", "{context}");
        resumed += 1;
    }
    assert!(resumed > 0, "no power loss landed inside a run");
}
