//! Storage is never followed through a symbolic link: a link planted in place of the storage
//! folder, `jobs`, a job folder, `runs`, `checkpoints` or an event log is a clear error and
//! nothing is written (or truncated) where it points.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use perstack_checkpoint::{Storage, StorageError};
use perstack_core::{Checkpoint, ExpertRef, Job, JobStatus, Usage};
use pretty_assertions::assert_eq;

fn job(id: &str) -> Job {
    Job {
        id: id.into(),
        status: JobStatus::Running,
        coordinator_expert_key: "writer".into(),
        total_steps: 0,
        max_steps: Some(100),
        usage: Usage::default(),
        started_at: 1,
        finished_at: None,
    }
}

fn checkpoint(job: &str) -> Checkpoint {
    let expert = ExpertRef {
        key: "writer".into(),
        name: "writer".into(),
        version: "1.0.0".into(),
    };
    Checkpoint::init("cp1", job, "run1", expert)
}

struct Dirs {
    _t: tempfile::TempDir,
    ws: PathBuf,
    elsewhere: PathBuf,
}

fn dirs() -> Dirs {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().canonicalize().unwrap();
    let (ws, elsewhere) = (base.join("ws"), base.join("elsewhere"));
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    Dirs {
        _t: t,
        ws,
        elsewhere,
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        out.push(e.path());
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

fn is_link_error<T: std::fmt::Debug>(r: Result<T, StorageError>, at: &Path) {
    match r {
        Err(e @ StorageError::Link { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&at.display().to_string()), "{text}");
            assert!(text.contains("never followed through a link"), "{text}");
        }
        other => panic!("expected a link error at {}, got {other:?}", at.display()),
    }
}

#[test]
fn a_storage_folder_linked_outside_is_refused_and_nothing_written_there() {
    let d = dirs();
    symlink(&d.elsewhere, d.ws.join("perstack")).unwrap();
    let s = Storage::new(&d.ws);
    let link = d.ws.join("perstack");
    is_link_error(s.store_job(&job("j1")), &link);
    is_link_error(s.store_checkpoint(&checkpoint("j1")), &link);
    is_link_error(s.open_event_log("j1", "run1"), &link);
    is_link_error(s.list_jobs(), &link);
    is_link_error(s.load_job("j1"), &link);
    assert_eq!(entries(&d.elsewhere), Vec::<String>::new());
}

#[test]
fn a_jobs_folder_linked_inside_the_workspace_is_refused() {
    let d = dirs();
    // The file tools could read and overwrite `other/`: storage under another name.
    std::fs::create_dir_all(d.ws.join("other")).unwrap();
    std::fs::create_dir_all(d.ws.join("perstack")).unwrap();
    symlink("../other", d.ws.join("perstack/jobs")).unwrap();
    let s = Storage::new(&d.ws);
    let link = d.ws.join("perstack/jobs");
    is_link_error(s.store_job(&job("j1")), &link);
    is_link_error(s.store_checkpoint(&checkpoint("j1")), &link);
    is_link_error(s.list_jobs(), &link);
    is_link_error(s.latest_job(), &link);
    assert_eq!(entries(&d.ws.join("other")), Vec::<String>::new());
}

#[test]
fn links_deeper_in_a_job_are_refused_and_their_targets_untouched() {
    let d = dirs();
    let s = Storage::new(&d.ws);
    s.store_job(&job("j1")).unwrap();
    let jobs = d.ws.join("perstack/jobs");
    // A job folder that is a link: refused, and left out of listings.
    symlink(&d.elsewhere, jobs.join("j2")).unwrap();
    std::fs::write(d.elsewhere.join("job.json"), "{}").unwrap();
    is_link_error(s.load_job("j2"), &jobs.join("j2"));
    is_link_error(s.store_job(&job("j2")), &jobs.join("j2"));
    assert_eq!(
        s.list_jobs()
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect::<Vec<_>>(),
        vec!["j1".to_string()]
    );
    // `checkpoints` and `runs` as links.
    symlink(&d.elsewhere, jobs.join("j1/checkpoints")).unwrap();
    is_link_error(
        s.store_checkpoint(&checkpoint("j1")),
        &jobs.join("j1/checkpoints"),
    );
    symlink(&d.elsewhere, jobs.join("j1/runs")).unwrap();
    is_link_error(s.open_event_log("j1", "run1"), &jobs.join("j1/runs"));
    // An event log that is a link to a file elsewhere: not opened, not truncated.
    std::fs::remove_file(jobs.join("j1/runs")).unwrap();
    std::fs::create_dir_all(jobs.join("j1/runs/run2")).unwrap();
    let target = d.elsewhere.join("precious.txt");
    std::fs::write(&target, "precious\n").unwrap();
    symlink(&target, jobs.join("j1/runs/run2/events.jsonl")).unwrap();
    is_link_error(
        s.open_event_log("j1", "run2"),
        &jobs.join("j1/runs/run2/events.jsonl"),
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert_eq!(
        entries(&d.elsewhere),
        vec!["job.json".to_string(), "precious.txt".to_string()]
    );
}
