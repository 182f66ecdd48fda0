//! [`Storage`]: jobs, checkpoints and event logs of one workspace.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use perstack_core::{Checkpoint, CheckpointStatus, Job};
use perstack_events::Event;
use serde::{Deserialize, Serialize};

use crate::StorageError;
use crate::atomic::{Durability, SyncCounter, SyncStats, write_atomic};
use crate::audit::{AuditHead, AuditKey};
use crate::event_log::{EventLog, read_events};
use crate::layout::Layout;
use crate::message_log::{MessageLog, MessageRef, is_safe_rel, read_prefix};

/// Format tag of our checkpoint files.
const CHECKPOINT_FORMAT: &str = "perstack-rs.checkpoint/1";

/// A checkpoint as stored: everything but the messages, plus a reference to them.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredCheckpoint {
    format: String,
    /// Message log holding the conversation, relative to the job folder.
    pub(crate) messages_log: String,
    /// How many lines of it belong to this checkpoint.
    pub(crate) message_count: usize,
    /// SHA-256 of those lines.
    messages_sha256: String,
    /// The checkpoint with `messages` empty.
    pub(crate) checkpoint: Checkpoint,
}

/// What one store wrote, for benchmarks and tests of storage growth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Bytes appended to the message log.
    pub message_bytes: u64,
    /// Bytes of the checkpoint file.
    pub checkpoint_bytes: u64,
}

/// A checkpoint's identity and state, without loading its messages.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointSummary {
    /// Checkpoint id.
    pub id: String,
    /// Run id.
    pub run_id: String,
    /// Status.
    pub status: CheckpointStatus,
    /// Step number.
    pub step_number: u32,
    /// Expert key.
    pub expert_key: String,
    /// Messages in the conversation at this point.
    pub message_count: usize,
    /// File modification time, ms since the epoch (for ordering).
    pub modified_ms: u64,
}

type RunKey = (String, String);

/// Storage of one workspace. Cheap to share across threads; concurrent runs (parallel
/// delegation) write their own message logs and event logs.
#[derive(Debug)]
pub struct Storage {
    layout: Layout,
    message_logs: Mutex<HashMap<RunKey, Arc<Mutex<MessageLog>>>>,
    /// The audit key (`PERSTACK_AUDIT_KEY`): event-log links are HMACs under it.
    audit_key: Option<AuditKey>,
    /// The head of every run log this process appended to, as written (for the anchor).
    pub(crate) heads: Mutex<HashMap<RunKey, AuditHead>>,
    /// Durable syncs and renames made so far ([`Storage::sync_stats`]).
    pub(crate) counter: Arc<SyncCounter>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn to_json<T: Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(v).map_err(|source| StorageError::Serialize { what, source })
}

/// The `.json` entries of `dir` (none when it does not exist); skips the temp files of an
/// interrupted atomic write.
pub(crate) fn json_entries(dir: &Path) -> Vec<std::fs::DirEntry> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().and_then(|x| x.to_str()) == Some("json"))
        .collect()
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, StorageError> {
    let bytes = std::fs::read(path).map_err(|e| StorageError::io("reading", path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| StorageError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

impl Storage {
    /// Storage under `<workspace>/perstack/` (created on first write).
    pub fn new(workspace: &Path) -> Self {
        Self::with_layout(Layout::new(workspace))
    }

    /// Storage in a state folder outside the workspace (`DIR/jobs/...`); see
    /// [`Layout::state_dir`] for what is refused.
    pub fn in_state_dir(dir: &Path, workspace: &Path) -> Result<Self, StorageError> {
        Ok(Self::with_layout(Layout::state_dir(dir, workspace)?))
    }

    /// Storage on a given layout.
    pub fn with_layout(layout: Layout) -> Self {
        Storage {
            layout,
            message_logs: Mutex::new(HashMap::new()),
            audit_key: None,
            heads: Mutex::new(HashMap::new()),
            counter: Arc::default(),
        }
    }

    /// Keys the audit chain: every event-log link written or verified is an HMAC-SHA256
    /// under `key` (see [`crate::AuditHead`]).
    pub fn with_audit_key(mut self, key: Option<AuditKey>) -> Self {
        self.audit_key = key;
        self
    }

    /// The audit key in use, if any.
    pub fn audit_key(&self) -> Option<&AuditKey> {
        self.audit_key.as_ref()
    }

    /// The paths in use.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The durable syncs and renames this storage has made so far (all threads, all runs):
    /// the figure behind "one durable sync per step" (`docs/storage.md`).
    pub fn sync_stats(&self) -> SyncStats {
        self.counter.stats()
    }

    /// Writes `job.json` atomically: when it is created its sync (file and folders) is owed
    /// and made just before the next durable sync (the first step's); afterwards it is
    /// replaced without a sync (its totals follow the event log, which is synced; see
    /// `docs/storage.md`, "Crash safety").
    pub fn store_job(&self, job: &Job) -> Result<(), StorageError> {
        let path = self.layout.job_file(&job.id)?;
        let durability = if path.exists() {
            Durability::Replaced
        } else {
            Durability::Deferred
        };
        write_atomic(&self.counter, &path, &to_json("job", job)?, durability)
    }

    /// Reads a job.
    pub fn load_job(&self, job_id: &str) -> Result<Job, StorageError> {
        let path = self.layout.job_file(job_id)?;
        if !path.exists() {
            return Err(StorageError::JobNotFound {
                job_id: job_id.to_string(),
                root: self.layout.root().to_path_buf(),
            });
        }
        read_json(&path)
    }

    /// Every job, newest first. Unreadable job files are skipped with a warning log.
    pub fn list_jobs(&self) -> Result<Vec<Job>, StorageError> {
        let dir = self.layout.checked_jobs_dir()?;
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut jobs = Vec::new();
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                tracing::warn!("skipping {}: a symbolic link", entry.path().display());
                continue;
            }
            let path = entry.path().join("job.json");
            if !path.exists() {
                continue;
            }
            match read_json::<Job>(&path) {
                Ok(j) => jobs.push(j),
                Err(e) => tracing::warn!("skipping job: {e}"),
            }
        }
        jobs.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.id.cmp(&a.id)));
        Ok(jobs)
    }

    /// The most recently started job, for `--continue`.
    pub fn latest_job(&self) -> Result<Option<Job>, StorageError> {
        Ok(self.list_jobs()?.into_iter().next())
    }

    /// Stores a checkpoint: appends the messages its run has not stored yet, then replaces the
    /// checkpoint file atomically, without a sync: the event that carries the checkpoint is
    /// what makes it durable ([`Storage::append_event`]; a file lost with the power is
    /// rebuilt from the log by [`Storage::recover_job`]). Returns what was written.
    pub fn store_checkpoint(&self, cp: &Checkpoint) -> Result<StoreStats, StorageError> {
        self.store_checkpoint_lent(cp, &cp.messages)
    }

    /// [`Storage::store_checkpoint`] for a checkpoint whose conversation is `messages`
    /// (`cp.messages` is ignored): a caller that keeps the conversation apart lends it
    /// instead of copying it into the checkpoint every step.
    pub fn store_checkpoint_lent(
        &self,
        cp: &Checkpoint,
        messages: &[perstack_core::Message],
    ) -> Result<StoreStats, StorageError> {
        let job_dir = self.layout.job_dir(&cp.job_id)?;
        // Refused (a link in the way) before anything is written.
        self.layout.checkpoint_file(&cp.job_id, &cp.id)?;
        let key = (cp.job_id.clone(), cp.run_id.clone());
        let log = {
            let mut logs = lock(&self.message_logs);
            match logs.get(&key) {
                Some(l) => Arc::clone(l),
                None => {
                    let l = Arc::new(Mutex::new(MessageLog::create(
                        &self.counter,
                        &job_dir,
                        &cp.run_id,
                    )?));
                    logs.insert(key.clone(), Arc::clone(&l));
                    l
                }
            }
        };
        let mut log = lock(&log);
        if !log.extends(messages) {
            // The conversation was rewritten (not an append): start a new log generation.
            *log = MessageLog::create(&self.counter, &job_dir, &cp.run_id)?;
        }
        let (mref, message_bytes) = log.append_tail(messages)?;
        let bytes = self.write_checkpoint_file(cp, mref, Durability::Replaced)?;
        Ok(StoreStats {
            message_bytes,
            checkpoint_bytes: bytes.len() as u64,
        })
    }

    /// Writes the file of `cp` whose conversation is the prefix `mref` of a message log;
    /// returns its bytes.
    pub(crate) fn write_checkpoint_file(
        &self,
        cp: &Checkpoint,
        mref: MessageRef,
        durability: Durability,
    ) -> Result<Vec<u8>, StorageError> {
        let path = self.layout.checkpoint_file(&cp.job_id, &cp.id)?;
        // Not `cp.clone()`: that would copy the whole conversation to throw it away.
        let bare = cp.without_messages();
        let stored = StoredCheckpoint {
            format: CHECKPOINT_FORMAT.to_string(),
            messages_log: mref.rel,
            message_count: mref.count,
            messages_sha256: mref.sha256,
            checkpoint: bare,
        };
        let bytes = to_json("checkpoint", &stored)?;
        write_atomic(&self.counter, &path, &bytes, durability)?;
        Ok(bytes)
    }

    /// Loads a checkpoint with its full conversation (Perstack's shape).
    pub fn load_checkpoint(
        &self,
        job_id: &str,
        checkpoint_id: &str,
    ) -> Result<Checkpoint, StorageError> {
        let path = self.layout.checkpoint_file(job_id, checkpoint_id)?;
        if !path.exists() {
            return Err(StorageError::CheckpointNotFound {
                job_id: job_id.to_string(),
                checkpoint_id: checkpoint_id.to_string(),
            });
        }
        let stored: StoredCheckpoint = read_json(&path)?;
        if stored.format != CHECKPOINT_FORMAT {
            return Err(StorageError::Corrupt {
                path,
                reason: format!("unknown format \"{}\"", stored.format),
            });
        }
        let log_path = self.safe_log_path(job_id, &stored.messages_log, &path)?;
        let mut cp = stored.checkpoint;
        cp.messages = read_prefix(&log_path, stored.message_count, &stored.messages_sha256)?;
        Ok(cp)
    }

    /// The message log path recorded in a checkpoint, refusing anything outside the job.
    fn safe_log_path(
        &self,
        job_id: &str,
        rel: &str,
        cp_path: &Path,
    ) -> Result<PathBuf, StorageError> {
        if !is_safe_rel(rel) {
            return Err(StorageError::Corrupt {
                path: cp_path.to_path_buf(),
                reason: format!("message log path \"{rel}\" leaves the job folder"),
            });
        }
        Ok(self.layout.job_dir(job_id)?.join(rel))
    }

    /// The checkpoint files of a job that cannot be loaded (unparsable, unknown format, or
    /// their conversation missing or edited), each with what is wrong.
    pub fn unreadable_checkpoints(&self, job_id: &str) -> Result<Vec<StorageError>, StorageError> {
        let dir = self.layout.checkpoints_dir(job_id)?;
        let mut out = Vec::new();
        for entry in json_entries(&dir) {
            let path = entry.path();
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let result = if perstack_core::id::is_valid_id(id) {
                self.load_checkpoint(job_id, id).map(|_| ())
            } else {
                Err(StorageError::Corrupt {
                    path: path.clone(),
                    reason: "not a checkpoint file name".into(),
                })
            };
            if let Err(e) = result {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Summaries of a job's checkpoints, oldest first (by step, then write time).
    pub fn list_checkpoints(&self, job_id: &str) -> Result<Vec<CheckpointSummary>, StorageError> {
        let dir = self.layout.checkpoints_dir(job_id)?;
        if !self.layout.job_dir(job_id)?.exists() {
            return Err(StorageError::JobNotFound {
                job_id: job_id.to_string(),
                root: self.layout.root().to_path_buf(),
            });
        }
        let mut out = Vec::new();
        for entry in json_entries(&dir) {
            let path = entry.path();
            let stored: StoredCheckpoint = match read_json(&path) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("skipping checkpoint: {e}");
                    continue;
                }
            };
            let modified_ms = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            let cp = stored.checkpoint;
            out.push(CheckpointSummary {
                id: cp.id,
                run_id: cp.run_id,
                status: cp.status,
                step_number: cp.step_number,
                expert_key: cp.expert.key,
                message_count: stored.message_count,
                modified_ms,
            });
        }
        out.sort_by(|a, b| {
            a.step_number
                .cmp(&b.step_number)
                .then(a.modified_ms.cmp(&b.modified_ms))
                .then(a.id.cmp(&b.id))
        });
        Ok(out)
    }

    /// Opens the run's event log for appending.
    pub fn open_event_log(&self, job_id: &str, run_id: &str) -> Result<EventLog, StorageError> {
        EventLog::open_counted(
            &self.layout.events_file(job_id, run_id)?,
            self.audit_key.as_ref(),
            Arc::clone(&self.counter),
        )
    }

    /// Every event of a run, in order, exactly as emitted (message references expanded).
    pub fn read_run_events(&self, job_id: &str, run_id: &str) -> Result<Vec<Event>, StorageError> {
        let path = self.layout.events_file(job_id, run_id)?;
        if !path.exists() {
            return Ok(Vec::new());
        }
        read_events(&path)
    }

    /// Same as [`Storage::read_run_events`] (the name older callers use).
    pub fn read_events(&self, job_id: &str, run_id: &str) -> Result<Vec<Event>, StorageError> {
        self.read_run_events(job_id, run_id)
    }

    /// The message log a run is currently appending to in this process, if any.
    pub(crate) fn message_log(&self, job_id: &str, run_id: &str) -> Option<Arc<Mutex<MessageLog>>> {
        lock(&self.message_logs)
            .get(&(job_id.to_string(), run_id.to_string()))
            .map(Arc::clone)
    }

    /// The run ids of a job that have an event log.
    pub fn list_runs(&self, job_id: &str) -> Result<Vec<String>, StorageError> {
        let dir = self.layout.job_dir(job_id)?.join("runs");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut runs: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().join("events.jsonl").exists())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        runs.sort();
        Ok(runs)
    }
}
