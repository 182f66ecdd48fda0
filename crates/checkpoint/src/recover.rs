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
use perstack_events::{Event, RunEventPayload};
use serde_json::Value;

use crate::StorageError;
use crate::atomic::{Durability, open_append};
use crate::compact::{self, FORMAT, Slot, StoredRef};
use crate::event_log::{ChainLine, scan};
use crate::message_log::{LoadedLog, LogCache, MessageRef, encode_lines};
use crate::store::Storage;

/// What [`Storage::recover_job`] wrote back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Message-log lines rewritten from the event log.
    pub message_lines: usize,
    /// Checkpoint files rewritten from the event log (missing, empty, or older than the
    /// last event that carries them), by id.
    pub checkpoints: Vec<String>,
}

impl Recovered {
    /// True when nothing needed writing.
    pub fn is_empty(&self) -> bool {
        self.message_lines == 0 && self.checkpoints.is_empty()
    }
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

/// A checkpoint as an event carries it, with where its conversation is stored.
struct Carried {
    checkpoint: Checkpoint,
    /// The message log its stored reference names (None: stored inline, format 1).
    log: Option<String>,
}

impl Storage {
    /// Writes back from the job's event logs what a crash or power loss took from the files
    /// derived from them: message-log lines that an event references (each is carried inline
    /// by the log) and checkpoint files that are missing, empty, or older than the last event
    /// carrying them. Only the verified part of each log is used; a file that differs from
    /// every version the log carries (edited, or newer than the log) is left for
    /// `perstack log --verify` and the continue guard to report. Writes made here are synced.
    pub fn recover_job(&self, job_id: &str) -> Result<Recovered, StorageError> {
        let job_dir = self.layout().job_dir(job_id)?;
        let mut out = Recovered::default();
        // Every checkpoint version the logs carry, in emission order.
        let mut carried: Vec<((u64, usize), Carried)> = Vec::new();
        for (run_index, run) in self.list_runs(job_id)?.iter().enumerate() {
            let path = self.layout().events_file(job_id, run)?;
            let lines = verified_lines(self, &path)?;
            out.message_lines += self.rebuild_message_logs(&job_dir, &lines)?;
            let mut cache = LogCache::new(job_dir.clone());
            for line in lines {
                let mut without_refs = line.event.clone();
                let refs = compact::take_refs(&mut without_refs).unwrap_or_default();
                let log_of = |slot: Slot| {
                    refs.iter()
                        .find(|(s, _)| *s == slot)
                        .map(|(_, r)| r.log.clone())
                };
                let Ok(Event::Run(event)) = compact::decode(line.event, line.v, &mut cache) else {
                    continue;
                };
                let order = (event.timestamp, run_index);
                let type_name = event.payload.type_name();
                if let RunEventPayload::ContinueToNextStep { checkpoint, .. } = &event.payload {
                    carried.push((
                        order,
                        Carried {
                            checkpoint: checkpoint.clone(),
                            log: log_of(Slot::Checkpoint),
                        },
                    ));
                }
                if let Some(cp) = event.payload.checkpoint() {
                    let slot = match type_name {
                        "startRun" => Slot::InitialCheckpoint,
                        "continueToNextStep" => Slot::NextCheckpoint,
                        _ => Slot::Checkpoint,
                    };
                    carried.push((
                        order,
                        Carried {
                            checkpoint: cp.clone(),
                            log: log_of(slot),
                        },
                    ));
                }
            }
        }
        // Stable: each run's own order is kept for equal timestamps.
        carried.sort_by_key(|(order, _)| *order);
        let mut versions: HashMap<String, Vec<Carried>> = HashMap::new();
        for (_, c) in carried {
            versions.entry(c.checkpoint.id.clone()).or_default().push(c);
        }
        let mut ids: Vec<&String> = versions.keys().collect();
        ids.sort();
        for id in ids {
            let Some(all) = versions.get(id) else {
                continue;
            };
            if self.restore_checkpoint(job_id, &job_dir, all)? {
                out.checkpoints.push(id.clone());
            }
        }
        Ok(out)
    }

    /// Rewrites a checkpoint file from the last of the versions the logs carry when the file
    /// is missing, empty, or equal to an earlier version; true when it was rewritten.
    fn restore_checkpoint(
        &self,
        job_id: &str,
        job_dir: &Path,
        versions: &[Carried],
    ) -> Result<bool, StorageError> {
        let Some(last) = versions.last() else {
            return Ok(false);
        };
        let cp = &last.checkpoint;
        let path = self.layout().checkpoint_file(job_id, &cp.id)?;
        let lost = std::fs::metadata(&path).map_or(true, |m| m.len() == 0);
        if !lost {
            match self.load_checkpoint(job_id, &cp.id) {
                Ok(on_disk) if on_disk == *cp => return Ok(false),
                Ok(on_disk) if versions.iter().any(|v| v.checkpoint == on_disk) => {}
                // Edited, or newer than the log (killed before its event): left as it is.
                Ok(_) | Err(_) => return Ok(false),
            }
        }
        let Some(rel) = &last.log else {
            return Ok(false);
        };
        let log = LoadedLog::read(&job_dir.join(rel))?;
        let count = cp.messages.len();
        if log.messages.get(..count) != Some(cp.messages.as_slice()) {
            return Ok(false);
        }
        let Some(sha256) = log.digest(count) else {
            return Ok(false);
        };
        let mref = MessageRef {
            rel: rel.clone(),
            count,
            sha256,
        };
        self.write_checkpoint_file(cp, mref, Durability::Synced)?;
        Ok(true)
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
                let Some(prefix) = known.get(..count) else {
                    continue; // dangling: verify reports it
                };
                let len = count + tail.len();
                if len > known.len() && known.get(count..).is_none_or(|rest| tail.starts_with(rest))
                {
                    let mut conversation = prefix.to_vec();
                    conversation.extend(tail);
                    *known = conversation;
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
