//! Verifying a whole job (`perstack log --verify`): the record, every run's event log (chain,
//! message references, keyed links), that the logs reach the end the record claims, that
//! every checkpoint file matches the last event that carried it, and optionally the head
//! anchored outside the workspace (`--expect`).

use std::collections::{BTreeMap, BTreeSet};

use perstack_core::{Checkpoint, Job, JobStatus};
use perstack_events::{Event, RunEventPayload};

use crate::StorageError;
use crate::audit::AuditHead;
use crate::event_log::{VerifyReport, verify_event_log_keyed};
use crate::store::{Storage, json_entries, lock, read_json};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// What a crash can leave (a torn last line, a checkpoint written just before a kill):
    /// reported, exit 0.
    Warning,
    /// Tampering or loss: non-zero exit.
    Failure,
}

/// One thing `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Warning or failure.
    pub severity: Severity,
    /// What is wrong, naming the file (and line) and the likely cause.
    pub message: String,
}

/// The outcome of verifying a job.
#[derive(Debug, Clone, Default)]
pub struct JobAudit {
    /// Each run log found, with its chain report.
    pub runs: Vec<(String, VerifyReport)>,
    /// Problems, in the order found.
    pub findings: Vec<Finding>,
    /// The head of the job's logs as they are now (the form `--expect` takes).
    pub head: Option<AuditHead>,
}

impl JobAudit {
    /// True when nothing is a failure.
    pub fn ok(&self) -> bool {
        self.findings
            .iter()
            .all(|f| f.severity == Severity::Warning)
    }

    fn push(&mut self, severity: Severity, message: String) {
        self.findings.push(Finding { severity, message });
    }
}

/// What one run's log says.
struct RunState {
    /// The last run event ends the run (completeRun / stopRunBy*), and the log has no torn
    /// tail: nothing a crash could explain may then be missing.
    ended: bool,
    /// The last stored version of every checkpoint the run's events carried.
    checkpoints: BTreeMap<String, Checkpoint>,
}

fn ends_run(p: &RunEventPayload) -> bool {
    p.checkpoint().is_some()
        && !matches!(
            p,
            RunEventPayload::StartRun { .. } | RunEventPayload::ContinueToNextStep { .. }
        )
}

impl Storage {
    /// The head of a job's event logs for the anchor: the heads this process wrote (never
    /// re-read), and for runs of earlier executions the verified part of their log.
    pub fn audit_head(&self, job_id: &str) -> Result<AuditHead, StorageError> {
        let mut heads: BTreeMap<String, AuditHead> = BTreeMap::new();
        for run in self.list_runs(job_id)? {
            let path = self.layout().events_file(job_id, &run)?;
            let report = verify_event_log_keyed(&path, self.audit_key())?;
            heads.insert(run, report.head());
        }
        for ((job, run), head) in lock(&self.heads).iter() {
            if job == job_id {
                heads.insert(run.clone(), head.clone());
            }
        }
        Ok(AuditHead::of_runs(
            self.audit_key(),
            heads.iter().map(|(r, h)| (r.as_str(), h)),
        ))
    }

    /// Verifies job `job_id` as a whole (see the module doc); `expect` is the head printed
    /// by `perstack run` (a mismatch is always a failure).
    pub fn verify_job(
        &self,
        job_id: &str,
        expect: Option<&AuditHead>,
    ) -> Result<JobAudit, StorageError> {
        use Severity::{Failure, Warning};
        let mut audit = JobAudit::default();
        let job_dir = self.layout().job_dir(job_id)?;
        if !job_dir.is_dir() {
            return Err(StorageError::JobNotFound {
                job_id: job_id.to_string(),
                root: self.layout().root().to_path_buf(),
            });
        }
        let job_file = self.layout().job_file(job_id)?;
        let job: Option<Job> = if job_file.exists() {
            match read_json(&job_file) {
                Ok(j) => Some(j),
                Err(e) => {
                    audit.push(Failure, format!("job record: {e}"));
                    None
                }
            }
        } else {
            audit.push(
                Failure,
                format!(
                    "job record {} is missing (deleted?): the job's status, steps and usage \
                     cannot be checked",
                    job_file.display()
                ),
            );
            None
        };

        // Checkpoint files, and the runs they name.
        let mut files: BTreeMap<String, Checkpoint> = BTreeMap::new();
        // Runs named by checkpoint files, readable or not (their conversation may be gone).
        let mut named: BTreeSet<String> = BTreeSet::new();
        for entry in json_entries(&self.layout().checkpoints_dir(job_id)?) {
            let path = entry.path();
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            match self.load_checkpoint(job_id, id) {
                Ok(cp) => {
                    named.insert(cp.run_id.clone());
                    files.insert(id.to_string(), cp);
                }
                Err(e) => {
                    audit.push(Failure, format!("checkpoint {id}: {e}"));
                    if let Ok(v) = read_json::<serde_json::Value>(&path)
                        && let Some(run) = v["checkpoint"]["runId"].as_str()
                        && perstack_core::id::is_valid_id(run)
                    {
                        named.insert(run.to_string());
                    }
                }
            }
        }
        let mut runs = named.clone();
        if let Ok(entries) = std::fs::read_dir(job_dir.join("runs")) {
            runs.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().to_str().map(str::to_string)),
            );
        }

        let mut states: BTreeMap<String, RunState> = BTreeMap::new();
        let mut endings: Vec<Checkpoint> = Vec::new();
        let mut any_torn = false;
        for run in &runs {
            let path = self.layout().events_file(job_id, run)?;
            let has_checkpoints = named.contains(run);
            if !path.exists() {
                audit.push(
                    Failure,
                    format!(
                        "run {run}: event log {} is missing (deleted?){}",
                        path.display(),
                        if has_checkpoints {
                            "; checkpoints of the run exist"
                        } else {
                            ""
                        }
                    ),
                );
                continue;
            }
            let report = verify_event_log_keyed(&path, self.audit_key())?;
            audit.runs.push((run.clone(), report.clone()));
            if let Some((line, reason)) = &report.first_break {
                audit.push(
                    Failure,
                    format!("run {run}: {}:{line}: {reason}", path.display()),
                );
                continue;
            }
            any_torn |= report.torn_tail;
            if report.lines == 0 {
                let severity = if has_checkpoints { Failure } else { Warning };
                audit.push(
                    severity,
                    format!(
                        "run {run}: event log {} is empty{}",
                        path.display(),
                        if has_checkpoints {
                            " (emptied?) but checkpoints of the run exist"
                        } else {
                            " (a crash right after the run started?)"
                        }
                    ),
                );
            }
            let events = match self.read_run_events(job_id, run) {
                Ok(e) => e,
                Err(e) => {
                    audit.push(Failure, format!("run {run}: {e}"));
                    continue;
                }
            };
            let mut state = RunState {
                ended: false,
                checkpoints: BTreeMap::new(),
            };
            for e in &events {
                let Event::Run(r) = e else { continue };
                if let RunEventPayload::ContinueToNextStep { checkpoint, .. } = &r.payload {
                    state
                        .checkpoints
                        .insert(checkpoint.id.clone(), checkpoint.clone());
                }
                if let Some(cp) = r.payload.checkpoint() {
                    state.checkpoints.insert(cp.id.clone(), cp.clone());
                }
                state.ended = ends_run(&r.payload);
                if state.ended
                    && let Some(cp) = r.payload.checkpoint()
                {
                    endings.push(cp.clone());
                }
            }
            state.ended &= !report.torn_tail;
            states.insert(run.clone(), state);
        }

        // The record's end must be in the logs.
        if let Some(job) = &job
            && job.status != JobStatus::Running
            && !endings.iter().any(|c| {
                JobStatus::from(c.status) == job.status && c.step_number == job.total_steps
            })
        {
            audit.push(
                if any_torn { Warning } else { Failure },
                format!(
                    "the logs end before the job does: job.json says {:?} at step {}, but no \
                     run-ending event (completeRun, stopRunBy*) at that step is in any event \
                     log; lines were removed from the end of a log{}",
                    job.status,
                    job.total_steps,
                    if any_torn {
                        ", or the event was the torn last line"
                    } else {
                        ""
                    }
                ),
            );
        }

        // Every checkpoint file is the last version its run's log carried.
        for (id, cp) in &files {
            let state = states.get(&cp.run_id);
            let logged = state.and_then(|s| s.checkpoints.get(id));
            if logged == Some(cp) {
                continue;
            }
            let ended = state.is_some_and(|s| s.ended);
            let what = if logged.is_some() {
                "does not match the last event of its run that carried it (edited?)"
            } else {
                "is in no event of its run (planted?)"
            };
            audit.push(
                if ended { Failure } else { Warning },
                format!(
                    "checkpoint {id} (run {}, step {}) {what}{}",
                    cp.run_id,
                    cp.step_number,
                    if ended {
                        ""
                    } else {
                        "; the run's log does not end the run, so a crash between storing \
                         the checkpoint and logging the event can explain it"
                    }
                ),
            );
        }
        if runs.is_empty()
            && let Some(job) = &job
            && (job.total_steps > 0 || job.status != JobStatus::Running)
        {
            audit.push(
                Failure,
                format!(
                    "job.json records {} step(s) ({:?}) but the job has no event log \
                     (deleted?)",
                    job.total_steps, job.status
                ),
            );
        }

        let reports: Vec<(String, AuditHead)> = audit
            .runs
            .iter()
            .map(|(r, rep)| (r.clone(), rep.head()))
            .collect();
        let head = AuditHead::of_runs(
            self.audit_key(),
            reports.iter().map(|(r, h)| (r.as_str(), h)),
        );
        if let Some(expected) = expect
            && *expected != head
        {
            audit.push(
                Failure,
                format!(
                    "the logs' head is {head}, but {expected} was expected: events were \
                     removed, added, reordered or rewritten after `perstack run` printed its \
                     anchor{}",
                    if expected.keyed != head.keyed {
                        " (or the audit key was set for one and not the other)"
                    } else {
                        ""
                    }
                ),
            );
        }
        audit.head = Some(head);
        Ok(audit)
    }
}
