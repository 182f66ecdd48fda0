//! The audit chain survives tampering (issue 10, items 4 and 5): a real `perstack run`
//! records a job, the test tampers with its storage the way an agent or a child process
//! could, and `perstack log --verify` (with and without `--expect` and the audit key) must
//! fail naming the problem. Continuing a job whose checkpoints are all corrupt is refused and
//! changes nothing.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Endpoint, Setup, assert_completed, text};

const KEY: &str = "audit-key-for-tests-0123456789";

/// A recorded job: its setup, id, the head its `auditAnchor` carried, and its one run log.
struct Recorded {
    setup: Setup,
    job: String,
    head: String,
    log: PathBuf,
}

fn script() -> Vec<Turn> {
    vec![
        Turn::call("writeTextFile", json!({"path": "a.md", "text": "one\n"})),
        Turn::call("appendTextFile", json!({"path": "a.md", "text": "two\n"})),
        Turn::text("Both written."),
    ]
}

fn record(key: Option<&str>) -> Recorded {
    let llm = ScriptedLlm::start(script()).unwrap();
    let setup = Setup::new();
    let mut endpoint = Endpoint::openai(&llm.base_url);
    if let Some(k) = key {
        endpoint.env.push(("PERSTACK_AUDIT_KEY".into(), k.into()));
    }
    let done = setup.run(&endpoint, &["--job-id", "audited"], "Write twice");
    assert_completed(&done);
    let anchor = done.events.last().unwrap().clone();
    assert_eq!(anchor["type"], "auditAnchor", "{:?}", done.types());
    assert_eq!(anchor["jobId"], "audited");
    let head = anchor["head"].as_str().unwrap().to_string();
    let runs: Vec<PathBuf> = std::fs::read_dir(setup.job_dir("audited").join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let log = runs[0].join("events.jsonl");
    Recorded {
        setup,
        job: "audited".into(),
        head,
        log,
    }
}

impl Recorded {
    fn verify(&self, expect: bool, key: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_perstack"));
        cmd.args(["log", "--verify", "--job", &self.job, "--workspace"])
            .arg(self.setup.ws())
            .env_remove("PERSTACK_AUDIT_KEY");
        if expect {
            cmd.args(["--expect", &self.head]);
        }
        if let Some(k) = key {
            cmd.env("PERSTACK_AUDIT_KEY", k);
        }
        cmd.output().unwrap()
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn write_lines(&self, lines: &[String]) {
        let mut s = lines.join("\n");
        if !lines.is_empty() {
            s.push('\n');
        }
        std::fs::write(&self.log, s).unwrap();
    }

    fn checkpoints(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.setup.job_dir(&self.job).join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    fn job_json(&self) -> PathBuf {
        self.setup.job_dir(&self.job).join("job.json")
    }
}

/// Asserts a non-zero exit whose report names the problem.
fn assert_fails(out: &Output, needle: &str) {
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_ne!(out.status.code(), Some(0), "passed:\n{report}");
    assert!(report.contains(needle), "no \"{needle}\" in:\n{report}");
}

fn assert_passes(out: &Output) -> String {
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{report}");
    report
}

/// Rewrites every line's `prev` with plain SHA-256, as someone without the key would after
/// editing a line: the chain is then consistent again.
fn rechain(lines: &[String]) -> Vec<String> {
    let mut prev = "0".repeat(64);
    lines
        .iter()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v["prev"] = Value::String(prev.clone());
            let s = serde_json::to_string(&v).unwrap();
            prev = format!("{:x}", Sha256::digest(s.as_bytes()));
            s
        })
        .collect()
}

/// Every file below `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn an_intact_job_verifies_with_and_without_its_anchor_and_the_anchor_is_not_stored() {
    let r = record(None);
    assert!(r.head.starts_with("sha256:"), "{}", r.head);
    let report = assert_passes(&r.verify(true, None));
    assert!(report.contains("matches --expect"), "{report}");
    assert_passes(&r.verify(false, None));
    let stored = std::fs::read_to_string(&r.log).unwrap();
    assert!(!stored.contains("auditAnchor"), "the anchor is stdout only");
    assert!(
        report.contains(&r.head),
        "verify prints the head:\n{report}"
    );
}

#[test]
fn removing_the_last_lines_of_a_log_fails() {
    let r = record(None);
    let lines = r.lines();
    // The run-ending event and everything after it gone: caught from job.json alone.
    let end = lines
        .iter()
        .rposition(|l| l.contains("\"type\":\"completeRun\""))
        .unwrap();
    r.write_lines(&lines[..end]);
    assert_fails(&r.verify(false, None), "the logs end before the job does");
    // One line less, whatever it is: caught by the anchor.
    r.write_lines(&lines[..lines.len() - 1]);
    assert_fails(&r.verify(true, None), "was expected");
}

#[test]
fn an_emptied_log_fails() {
    let r = record(None);
    std::fs::write(&r.log, "").unwrap();
    assert_fails(&r.verify(false, None), "is empty (emptied?)");
    assert_fails(&r.verify(true, None), "was expected");
}

#[test]
fn a_deleted_log_fails() {
    let r = record(None);
    std::fs::remove_file(&r.log).unwrap();
    assert_fails(&r.verify(false, None), "is missing (deleted?)");
    // The whole run folder too: the checkpoints still name the run.
    std::fs::remove_dir_all(r.log.parent().unwrap()).unwrap();
    assert_fails(&r.verify(false, None), "is missing (deleted?)");
}

#[test]
fn a_corrupt_or_deleted_job_record_fails() {
    let r = record(None);
    std::fs::write(r.job_json(), "{\"id\": \"audited\", \"stat").unwrap();
    assert_fails(&r.verify(false, None), "job record");
    // Without --job too: every job folder is verified, not only the readable ones.
    let all = Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(["log", "--verify", "--workspace"])
        .arg(r.setup.ws())
        .output()
        .unwrap();
    assert_fails(&all, "is corrupt");
    std::fs::remove_file(r.job_json()).unwrap();
    assert_fails(&r.verify(false, None), "job.json is missing");
}

#[test]
fn an_edited_line_with_the_chain_recomputed_is_caught_by_the_anchor_or_the_key() {
    // Unkeyed: the chain is consistent again, so only the anchor can tell. (Only the first
    // line holding the query is edited: the lines that carry the query inside a checkpoint
    // would no longer match the checkpoint files, which verify reports without an anchor.)
    let r = record(None);
    let lines = r.lines();
    let first = lines
        .iter()
        .position(|l| l.contains("Write twice"))
        .unwrap();
    let edited: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == first {
                l.replace("Write twice", "Delete all")
            } else {
                l.clone()
            }
        })
        .collect();
    assert_ne!(edited, lines, "the query is in the log");
    r.write_lines(&rechain(&edited));
    assert_passes(&r.verify(false, None));
    assert_fails(&r.verify(true, None), "was expected");

    // Keyed: the rewriter does not have the key, so the chain itself fails.
    let k = record(Some(KEY));
    assert!(k.head.starts_with("hmac-sha256:"), "{}", k.head);
    assert_passes(&k.verify(true, Some(KEY)));
    let lines = k.lines();
    assert!(lines[0].contains("\"mac\":\"hmac-sha256\""), "{}", lines[0]);
    let edited: Vec<String> = lines
        .iter()
        .map(|l| l.replace("Write twice", "Delete all"))
        .collect();
    let rechained = rechain(&edited);
    k.write_lines(&rechained);
    assert_fails(&k.verify(false, Some(KEY)), "hash of the previous line");
    // Dropping the mac marker does not help.
    let unmarked: Vec<String> = rechained
        .iter()
        .map(|l| l.replace(",\"mac\":\"hmac-sha256\"", ""))
        .collect();
    k.write_lines(&rechain(&unmarked));
    assert_fails(&k.verify(false, Some(KEY)), "the line is not keyed");
    // Verifying a keyed log without the key says what to do.
    k.write_lines(&lines);
    assert_fails(&k.verify(false, None), "set PERSTACK_AUDIT_KEY");
}

#[test]
fn reordered_lines_fail() {
    let r = record(None);
    let mut lines = r.lines();
    lines.swap(2, 3);
    r.write_lines(&lines);
    assert_fails(&r.verify(false, None), "sequence number");
}

#[test]
fn a_checkpoint_that_does_not_match_the_log_fails() {
    let r = record(None);
    let mut edited = 0;
    for path in r.checkpoints() {
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if v["checkpoint"]["status"] != "completed" {
            continue;
        }
        v["checkpoint"]["usage"]["inputTokens"] = json!(1);
        std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        edited += 1;
    }
    assert_eq!(edited, 1);
    assert_fails(&r.verify(false, None), "does not match the last event");
}

#[test]
fn the_audit_key_is_never_stored_or_printed() {
    let r = record(Some(KEY));
    let out = r.verify(true, Some(KEY));
    assert_passes(&out);
    for (path, bytes) in snapshot(r.setup.ws()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY),
            "{}",
            path.display()
        );
    }
    assert!(!text(&out.stdout).contains(KEY) && !text(&out.stderr).contains(KEY));
}

#[test]
fn continuing_a_job_whose_checkpoints_are_all_corrupt_is_refused_and_changes_nothing() {
    let r = record(None);
    for path in r.checkpoints() {
        std::fs::write(&path, b"{\"format\": \"perstack-rs.checkpoint/1\", \"chec").unwrap();
    }
    let before = snapshot(&r.setup.job_dir(&r.job));
    let llm = ScriptedLlm::start(vec![Turn::text("Started over.")]).unwrap();
    let again = r.setup.run(
        &Endpoint::openai(&llm.base_url),
        &["--continue-job", "audited"],
        "Go on",
    );
    assert_eq!(
        again.code(),
        Some(2),
        "{:?} {}",
        again.types(),
        again.stderr
    );
    assert!(
        again.stderr.contains("cannot be loaded") && again.stderr.contains("nothing was changed"),
        "{}",
        again.stderr
    );
    assert!(again.events.is_empty(), "{:?}", again.types());
    assert_eq!(snapshot(&r.setup.job_dir(&r.job)), before);

    // With every checkpoint and the event log deleted, the steps job.json records would be
    // lost just the same.
    for path in r.checkpoints() {
        std::fs::remove_file(path).unwrap();
    }
    let moved = r.setup.ws().join("events.jsonl.away");
    std::fs::rename(&r.log, &moved).unwrap();
    let before = snapshot(&r.setup.job_dir(&r.job));
    let again = r.setup.run(
        &Endpoint::openai(&llm.base_url),
        &["--continue-job", "audited"],
        "Go on",
    );
    assert_eq!(again.code(), Some(2), "{}", again.stderr);
    assert!(
        again.stderr.contains("no checkpoint left"),
        "{}",
        again.stderr
    );
    assert_eq!(snapshot(&r.setup.job_dir(&r.job)), before);

    // With the event log back, the checkpoint files (derived from it, the shape a power loss
    // can leave of files written without a sync) are rebuilt from it, and the job goes on
    // from its last step instead of starting over.
    std::fs::rename(&moved, &r.log).unwrap();
    let steps = r.setup.job(&r.job)["totalSteps"].as_u64().unwrap();
    let again = r.setup.run(
        &Endpoint::openai(&llm.base_url),
        &["--continue-job", "audited"],
        "Go on",
    );
    assert_completed(&again);
    assert!(
        again.stderr.contains("rebuilt from its event log"),
        "{}",
        again.stderr
    );
    assert_eq!(r.setup.job(&r.job)["totalSteps"].as_u64(), Some(steps + 1));
    r.setup.assert_verified(&r.job);
}
