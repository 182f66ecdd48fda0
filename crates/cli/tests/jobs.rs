//! `perstack jobs` and `perstack log --jobs`: every recorded job, newest first.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::Path;
use std::process::{Command, Output};

use perstack_checkpoint::Storage;
use perstack_core::{Job, JobStatus, Usage};
use pretty_assertions::assert_eq;

fn perstack(args: &[&str], ws: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(args)
        .arg("--workspace")
        .arg(ws)
        .env_remove("PERSTACK_STATE_DIR")
        .current_dir(ws)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn record(ws: &Path, id: &str, status: JobStatus, started_at: u64) {
    Storage::new(ws)
        .store_job(&Job {
            id: id.into(),
            status,
            coordinator_expert_key: "writer".into(),
            total_steps: 3,
            max_steps: Some(100),
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
                total_tokens: 15,
                ..Usage::default()
            },
            started_at,
            finished_at: None,
        })
        .unwrap();
}

#[test]
fn jobs_lists_every_job_newest_first_with_the_command_to_continue_it() {
    let ws = tempfile::tempdir().unwrap();
    record(ws.path(), "old-job", JobStatus::Completed, 1_000);
    record(ws.path(), "new-job", JobStatus::StoppedByMaxSteps, 2_000);
    let o = perstack(&["jobs"], ws.path());
    assert!(o.status.success(), "{o:?}");
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("JOB"), "{text}");
    assert!(lines[1].starts_with("new-job"), "{text}");
    assert!(
        lines[1].ends_with("perstack run --continue-job new-job --max-steps N writer \"\""),
        "{text}"
    );
    assert!(lines[2].starts_with("old-job"), "{text}");
    assert!(lines[2].contains("completed"), "{text}");
    // `perstack log --jobs` is the same listing.
    assert_eq!(stdout(&perstack(&["log", "--jobs"], ws.path())), text);
}

#[test]
fn jobs_json_is_an_array_newest_first() {
    let ws = tempfile::tempdir().unwrap();
    record(ws.path(), "a", JobStatus::StoppedByError, 1_000);
    record(ws.path(), "b", JobStatus::Running, 2_000);
    let o = perstack(&["jobs", "--json"], ws.path());
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b", "a"]);
    assert_eq!(v[0]["status"], "running");
    assert_eq!(v[0]["continue"], serde_json::Value::Null);
    assert_eq!(v[1]["expert"], "writer");
    assert_eq!(v[1]["steps"], 3);
    assert_eq!(v[1]["usage"]["totalTokens"], 15);
    assert_eq!(
        v[1]["continue"],
        "perstack run --continue-job a writer \"\""
    );
    assert!(v[1]["ageMs"].as_u64().is_some());
    // `perstack log --jobs --json` is the same (ages aside: time passed).
    let without_age = |mut v: serde_json::Value| {
        for j in v.as_array_mut().unwrap() {
            j.as_object_mut().unwrap().remove("ageMs");
        }
        v
    };
    let via_log = perstack(&["log", "--jobs", "--json"], ws.path());
    assert_eq!(
        without_age(serde_json::from_slice(&via_log.stdout).unwrap()),
        without_age(v)
    );
}

#[test]
fn no_jobs_is_said_and_an_unknown_job_points_at_perstack_jobs() {
    let ws = tempfile::tempdir().unwrap();
    let o = perstack(&["jobs"], ws.path());
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).starts_with("No jobs under "), "{}", stdout(&o));
    let o = perstack(&["log", "--job", "nope"], ws.path());
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("list jobs with `perstack jobs`"), "{err}");
}
