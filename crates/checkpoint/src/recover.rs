//! Recovery from the event log after a crash or a power loss.
//!
//! A step is durable once the event that carries its checkpoint is in the run's event log
//! and the log is fdatasynced; message logs and checkpoint files are written without a sync
//! and are derived data: every message-log line an event references is carried inline by an
//! earlier line of the same event log, and every checkpoint is carried by an event. What a
//! power loss took from them, [`Storage::recover_job`] writes back from the log.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use perstack_core::{Checkpoint, Message};
use serde_json::Value;

use crate::StorageError;
use crate::atomic::{Durability, open_append, sync_dir};
use crate::compact::{self, FORMAT, StoredRef};
use crate::event_log::{ChainLine, scan};
use crate::message_log::{LoadedLog, MessageRef, encode_lines};
use crate::store::Storage;
use crate::store::{StoredCheckpoint, json_entries, read_json};

/// What [`Storage::recover_job`] wrote back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Message-log lines rewritten from the event log.
    pub message_lines: usize,
    /// Checkpoint files rewritten from the event log (missing, empty, older than the last
    /// event that carries them, or referring to lost message lines), by id.
    pub checkpoints: Vec<String>,
    /// Checkpoint files removed: no event carries them and the message lines they refer to
    /// were lost (written before a power loss, never durable), by id.
    pub removed: Vec<String>,
}

impl Recovered {
    /// True when nothing needed writing.
    pub fn is_empty(&self) -> bool {
        self.message_lines == 0 && self.checkpoints.is_empty() && self.removed.is_empty()
    }
}

/// What recovery did with one checkpoint file.
enum Restored {
    Kept,
    Rewritten,
    Removed,
}

/// The message log `rel` of the job, read once.
fn loaded<'a>(
    job_dir: &Path,
    rel: &str,
    logs: &'a mut HashMap<String, LoadedLog>,
) -> Result<Option<&'a LoadedLog>, StorageError> {
    if !logs.contains_key(rel) {
        let path = job_dir.join(rel);
        if !crate::message_log::is_safe_rel(rel) || !path.exists() {
            return Ok(None);
        }
        logs.insert(rel.to_string(), LoadedLog::read(&path)?);
    }
    Ok(logs.get(rel))
}

/// True when the message log a checkpoint file refers to has fewer lines than it refers to.
fn lost_lines(
    job_dir: &Path,
    stored: &StoredCheckpoint,
    logs: &mut HashMap<String, LoadedLog>,
) -> Result<bool, StorageError> {
    if !crate::message_log::is_safe_rel(&stored.messages_log) {
        return Ok(false);
    }
    Ok(match loaded(job_dir, &stored.messages_log, logs)? {
        Some(log) => log.messages.len() < stored.message_count,
        None => stored.message_count > 0,
    })
}

/// The verified lines of a run's event log (up to a torn tail or a broken link).
fn verified_lines(storage: &Storage, path: &Path) -> Result<Vec<ChainLine>, StorageError> {
    let report = scan(path, None, storage.audit_key())?;
    let file = File::open(path).map_err(|e| StorageError::io("opening", path, e))?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines().take(report.lines as usize) {
        let line = line.map_err(|e| StorageError::io("reading", path, e))?;
        let parsed: ChainLine = serde_json::from_str(&line).map_err(|e| StorageError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        out.push(parsed);
    }
    Ok(out)
}

/// The places of a stored run event that hold a checkpoint.
const CHECKPOINT_PLACES: [&str; 3] = ["/checkpoint", "/nextCheckpoint", "/initialCheckpoint"];

/// A checkpoint as a stored event carries it, read without expanding its conversation.
struct Version {
    /// The checkpoint without its messages.
    bare: Checkpoint,
    /// The message-log reference of its conversation (None: stored as an array).
    stored: Option<StoredRef>,
}

impl Version {
    /// Messages in the conversation.
    fn total(&self) -> Option<usize> {
        self.stored.as_ref().map(|r| r.count + r.tail.len())
    }

    /// Reads the checkpoint at `place` of a stored event.
    fn read(event: &Value, place: &str) -> Option<Version> {
        let mut object = event.pointer(place)?.clone();
        let messages = object.get_mut("messages")?;
        let raw = std::mem::replace(messages, Value::Array(Vec::new()));
        let stored = if raw.is_object() {
            Some(serde_json::from_value(raw).ok()?)
        } else {
            None
        };
        let bare = serde_json::from_value(object).ok()?;
        Some(Version { bare, stored })
    }
}

impl Storage {
    /// Writes back from the job's event logs what a crash or power loss took from the files
    /// derived from them: message-log lines that an event references (each is carried inline
    /// by the log) and checkpoint files that are missing, empty, or older than the last event
    /// carrying them. Only the verified part of each log is used; a file that differs from
    /// every version the log carries (edited, or newer than the log) is left for
    /// `perstack log --verify` and the continue guard to report. Writes made here are synced.
    /// Conversations are never expanded: the work is linear in the size of the logs.
    pub fn recover_job(&self, job_id: &str) -> Result<Recovered, StorageError> {
        let job_dir = self.layout().job_dir(job_id)?;
        let mut out = Recovered::default();
        // Every checkpoint version the logs carry, in emission order.
        let mut carried: Vec<((u64, usize), Version)> = Vec::new();
        for (run_index, run) in self.list_runs(job_id)?.iter().enumerate() {
            let path = self.layout().events_file(job_id, run)?;
            let lines = verified_lines(self, &path)?;
            out.message_lines += self.rebuild_message_logs(&job_dir, &lines)?;
            for line in &lines {
                let timestamp = line
                    .event
                    .get("timestamp")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                for place in CHECKPOINT_PLACES {
                    if let Some(v) = Version::read(&line.event, place) {
                        carried.push(((timestamp, run_index), v));
                    }
                }
            }
        }
        // Stable: each run's own order is kept for equal timestamps.
        carried.sort_by_key(|(order, _)| *order);
        let mut versions: HashMap<String, Vec<Version>> = HashMap::new();
        for (_, v) in carried {
            versions.entry(v.bare.id.clone()).or_default().push(v);
        }
        // The ids the logs carry and those of the files (a file no event carries yet).
        let mut ids: Vec<String> = versions.keys().cloned().collect();
        for entry in json_entries(&self.layout().checkpoints_dir(job_id)?) {
            if let Some(id) = entry.path().file_stem().and_then(|s| s.to_str())
                && perstack_core::id::is_valid_id(id)
            {
                ids.push(id.to_string());
            }
        }
        ids.sort();
        ids.dedup();
        let mut logs = HashMap::new();
        for id in ids {
            let all = versions.get(&id).map_or(&[][..], Vec::as_slice);
            match self.restore_checkpoint(job_id, &job_dir, &id, all, &mut logs)? {
                Restored::Kept => {}
                Restored::Rewritten => out.checkpoints.push(id),
                Restored::Removed => out.removed.push(id),
            }
        }
        Ok(out)
    }

    /// Rewrites a checkpoint file from the last of the versions the logs carry when the file
    /// is missing, empty, equal to an earlier version, or refers to message-log lines that
    /// were lost (a file written without a sync that outlived the lines it refers to); such a
    /// file that no event carries is removed (its step was never durable).
    fn restore_checkpoint(
        &self,
        job_id: &str,
        job_dir: &Path,
        id: &str,
        versions: &[Version],
        logs: &mut HashMap<String, LoadedLog>,
    ) -> Result<Restored, StorageError> {
        let path = self.layout().checkpoint_file(job_id, id)?;
        let lost = std::fs::metadata(&path).map_or(true, |m| m.len() == 0);
        if !lost {
            let Ok(on_disk) = read_json::<StoredCheckpoint>(&path) else {
                return Ok(Restored::Kept); // torn or edited: not what a replaced file becomes
            };
            let is = |v: &Version| {
                v.bare == on_disk.checkpoint && v.total() == Some(on_disk.message_count)
            };
            if versions.last().is_some_and(is) {
                return Ok(Restored::Kept);
            }
            if !versions.iter().any(is) && !lost_lines(job_dir, &on_disk, logs)? {
                // Newer than the log (killed before its event) and whole, or edited: kept.
                return Ok(Restored::Kept);
            }
        }
        let Some(last) = versions.last() else {
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| StorageError::io("removing", &path, e))?;
                if let Some(dir) = path.parent() {
                    sync_dir(&self.counter, dir)?;
                }
                return Ok(Restored::Removed);
            }
            return Ok(Restored::Kept);
        };
        let (Some(r), Some(total)) = (&last.stored, last.total()) else {
            return Ok(Restored::Kept);
        };
        let Some(log) = loaded(job_dir, &r.log, logs)? else {
            return Ok(Restored::Kept);
        };
        // The log's lines must be the conversation the event carries: its referenced prefix
        // (same hash) and then its inline tail.
        let (Some(prefix), Some(sha256)) = (log.digest(r.count), log.digest(total)) else {
            return Ok(Restored::Kept);
        };
        if prefix != r.sha256 || log.messages.get(r.count..total) != Some(r.tail.as_slice()) {
            return Ok(Restored::Kept);
        }
        let mref = MessageRef {
            rel: r.log.clone(),
            count: total,
            sha256,
        };
        self.write_checkpoint_file(&last.bare, mref, Durability::Synced)?;
        Ok(Restored::Rewritten)
    }

    /// Appends to each message log the lines the event log carries but the file lost;
    /// returns how many were written.
    fn rebuild_message_logs(
        &self,
        job_dir: &Path,
        lines: &[ChainLine],
    ) -> Result<usize, StorageError> {
        // rel -> (lines as on disk, lines as the event log implies)
        let mut logs: HashMap<String, (Option<LoadedLog>, Vec<Message>)> = HashMap::new();
        for line in lines {
            if line.v != FORMAT {
                continue;
            }
            let mut value: Value = line.event.clone();
            let Ok(refs) = compact::take_refs(&mut value) else {
                continue;
            };
            for (_, r) in refs {
                let StoredRef {
                    log, count, tail, ..
                } = r;
                if !crate::message_log::is_safe_rel(&log) {
                    continue;
                }
                let entry = match logs.get_mut(&log) {
                    Some(e) => e,
                    None => {
                        let path = job_dir.join(&log);
                        let disk = if path.exists() {
                            Some(LoadedLog::read(&path)?)
                        } else {
                            None
                        };
                        let known = disk
                            .as_ref()
                            .map(|d| d.messages.clone())
                            .unwrap_or_default();
                        logs.entry(log.clone()).or_insert((disk, known))
                    }
                };
                let known = &mut entry.1;
                let have = known.len();
                if count > have {
                    continue; // dangling: verify reports it
                }
                // Lines of the tail already known must match; the rest is appended. Work in
                // proportion to the tail, not the conversation.
                let overlap = (have - count).min(tail.len());
                if known.get(count..count + overlap) != tail.get(..overlap) {
                    continue;
                }
                if let Some(new) = tail.get(overlap..) {
                    known.extend_from_slice(new);
                }
            }
        }
        let mut written = 0;
        for (rel, (disk, known)) in logs {
            let on_disk = disk.as_ref().map_or(0, |d| d.messages.len());
            let Some(missing) = known.get(on_disk..).filter(|m| !m.is_empty()) else {
                continue;
            };
            let path = job_dir.join(&rel);
            let valid = disk.as_ref().map_or(0, |d| d.valid_bytes);
            self.append_lines(&path, valid, missing)?;
            written += missing.len();
        }
        Ok(written)
    }

    /// Cuts the log at `path` to its `valid` bytes and appends `messages`, synced.
    fn append_lines(
        &self,
        path: &Path,
        valid: u64,
        messages: &[Message],
    ) -> Result<(), StorageError> {
        crate::layout::refuse_link(path)?;
        if path.exists() {
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| StorageError::io("opening", path, e))?;
            f.set_len(valid)
                .map_err(|e| StorageError::io("truncating torn tail of", path, e))?;
        }
        let (buf, _) = encode_lines(messages)?;
        let mut f = open_append(&self.counter, path, Durability::Synced)?;
        f.write_all(&buf)
            .map_err(|e| StorageError::io("appending to", path, e))?;
        self.counter.sync_data(&f, path)
    }
}
