//! Hash-chained, append-only event log: each line carries the SHA-256 of the line before it,
//! so a removed, reordered or altered line breaks the chain at a line `verify` can name.
//!
//! A line is `{"seq":n,"prev":"<sha256 of line n-1>","v":2,"event":{...}}`; `v` is the
//! stored-line format (absent: format 1, the event stored whole). Format 2 may replace a
//! conversation by a reference to a prefix of a message log (see [`crate::compact`]).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use perstack_events::Event;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::StorageError;
use crate::atomic::{Durability, SyncCounter, open_append};
use crate::audit::{AuditHead, AuditKey, MAC_NAME, link_hash};
use crate::compact::{self, FORMAT};
use crate::message_log::LogCache;

/// The `prev` of the first line.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn format_one() -> u32 {
    1
}

/// One stored line: sequence number, hash of the previous line, format, the stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChainLine {
    /// 1-based position in the log.
    pub seq: u64,
    /// Lowercase hex SHA-256 of the previous line's bytes (without its newline).
    pub prev: String,
    /// Stored-line format.
    #[serde(default = "format_one")]
    pub v: u32,
    /// `hmac-sha256` when the links are keyed with the audit key; absent for SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The event, compact in format 2.
    pub event: Value,
}

/// An open event log, positioned at its end.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    file: File,
    seq: u64,
    last_hash: String,
    key: Option<AuditKey>,
    counter: Arc<SyncCounter>,
}

impl EventLog {
    /// Opens (or creates) the log at `path`, verifying its chain so appends continue it. A torn
    /// last line (crash mid-write) is cut off before appending.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_keyed(path, None)
    }

    /// [`EventLog::open`] with the audit key: every link is an HMAC-SHA256 under `key`, and
    /// an existing log must verify under it.
    pub fn open_keyed(path: &Path, key: Option<&AuditKey>) -> Result<Self, StorageError> {
        Self::open_counted(path, key, Arc::default())
    }

    /// [`EventLog::open_keyed`] counting its syncs in `counter` (the storage's).
    pub(crate) fn open_counted(
        path: &Path,
        key: Option<&AuditKey>,
        counter: Arc<SyncCounter>,
    ) -> Result<Self, StorageError> {
        // Never read, truncate or append through a link planted in place of the log.
        crate::layout::refuse_link(path)?;
        let (seq, last_hash, valid_len) = if path.exists() {
            let report = scan(path, None, key)?;
            if let Some((line, reason)) = &report.first_break {
                return Err(StorageError::Corrupt {
                    path: path.to_path_buf(),
                    reason: format!("chain broken at line {line}: {reason}; refusing to append"),
                });
            }
            (report.lines, report.last_hash, report.valid_bytes)
        } else {
            (0, GENESIS.to_string(), 0)
        };
        if path.exists() {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| StorageError::io("opening", path, e))?;
            f.set_len(valid_len)
                .map_err(|e| StorageError::io("truncating torn tail of", path, e))?;
        }
        // The log's creation is made durable with its first durable append (the first step's
        // `fdatasync`), not before: until then nothing in it is durable anyway.
        let file = open_append(&counter, path, Durability::Deferred)?;
        Ok(EventLog {
            path: path.to_path_buf(),
            file,
            seq,
            last_hash,
            key: key.cloned(),
            counter,
        })
    }

    /// Appends one event whole (no message references) as one chained line. `durable`
    /// fdatasyncs the log (use it for events that carry a checkpoint or end a run). The runtime goes through
    /// [`crate::Storage::append_event`], which stores conversations as references.
    pub fn append(&mut self, event: &Event, durable: bool) -> Result<(), StorageError> {
        let value = serde_json::to_value(event).map_err(|source| StorageError::Serialize {
            what: "event",
            source,
        })?;
        self.append_value(value, durable).map(|_| ())
    }

    /// Appends an already encoded format-2 event; returns the bytes written.
    pub(crate) fn append_value(
        &mut self,
        event: Value,
        durable: bool,
    ) -> Result<u64, StorageError> {
        let line = ChainLine {
            seq: self.seq + 1,
            prev: self.last_hash.clone(),
            v: FORMAT,
            mac: self.key.as_ref().map(|_| MAC_NAME.to_string()),
            event,
        };
        let mut bytes = serde_json::to_vec(&line).map_err(|source| StorageError::Serialize {
            what: "event",
            source,
        })?;
        let hash = link_hash(self.key.as_ref(), &bytes);
        bytes.push(b'\n');
        self.file
            .write_all(&bytes)
            .map_err(|e| StorageError::io("appending to", &self.path, e))?;
        if durable {
            // One fdatasync makes this line and every line before it durable.
            self.counter.sync_data(&self.file, &self.path)?;
        }
        self.seq += 1;
        self.last_hash = hash;
        Ok(bytes.len() as u64)
    }

    /// Lines written so far.
    pub fn len(&self) -> u64 {
        self.seq
    }

    /// True when nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.seq == 0
    }

    /// The head of the chain as written by this process (never re-read from disk).
    pub fn head(&self) -> AuditHead {
        AuditHead {
            keyed: self.key.is_some(),
            hash: self.last_hash.clone(),
            count: self.seq,
        }
    }
}

/// The outcome of checking a log's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Lines that verified.
    pub lines: u64,
    /// The first broken link or dangling message reference: 1-based line and what is wrong.
    pub first_break: Option<(u64, String)>,
    /// A torn last line (no newline: unparsable, or whole but unterminated): a crash
    /// mid-write, not tampering.
    pub torn_tail: bool,
    /// Hash of the last verified line.
    pub last_hash: String,
    /// Byte length of the verified part.
    pub valid_bytes: u64,
    /// Whether the links were checked as HMACs under the audit key.
    pub keyed: bool,
}

impl VerifyReport {
    /// The head of the verified part: what `--expect` compares.
    pub fn head(&self) -> AuditHead {
        AuditHead {
            keyed: self.keyed,
            hash: self.last_hash.clone(),
            count: self.lines,
        }
    }
}

/// The job folder of `perstack/jobs/<job>/runs/<run>/events.jsonl`.
fn job_dir_of(events_path: &Path) -> PathBuf {
    events_path
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Verifies the log at `path`: the hash chain, and that every message reference resolves to
/// message-log lines that exist and still hash as recorded.
pub fn verify_event_log(path: &Path) -> Result<VerifyReport, StorageError> {
    verify_event_log_keyed(path, None)
}

/// [`verify_event_log`] with the audit key: every link must be an HMAC under `key` (a log
/// rewritten without the key fails at its first line).
pub fn verify_event_log_keyed(
    path: &Path,
    key: Option<&AuditKey>,
) -> Result<VerifyReport, StorageError> {
    let mut cache = LogCache::new(job_dir_of(path));
    scan(path, Some(&mut cache), key)
}

/// What is wrong with a line's `mac` given the key in use, if anything.
fn mac_problem(mac: Option<&str>, key: Option<&AuditKey>) -> Option<String> {
    match (mac, key) {
        (None, None) => None,
        (Some(MAC_NAME), Some(_)) => None,
        (None, Some(_)) => Some(format!(
            "the line is not keyed: it was written without {var}, or rewritten by someone who \
             does not have the key",
            var = crate::audit::AUDIT_KEY_VAR
        )),
        (Some(MAC_NAME), None) => Some(format!(
            "the log is keyed ({MAC_NAME}): set {var} to the key it was written with to \
             verify or continue it",
            var = crate::audit::AUDIT_KEY_VAR
        )),
        (Some(other), _) => Some(format!("unknown link algorithm \"{other}\"")),
    }
}

/// Checks the chain, and the references too when given a cache.
pub(crate) fn scan(
    path: &Path,
    mut refs: Option<&mut LogCache>,
    key: Option<&AuditKey>,
) -> Result<VerifyReport, StorageError> {
    let file = File::open(path).map_err(|e| StorageError::io("opening", path, e))?;
    let mut reader = BufReader::new(file);
    let mut report = VerifyReport {
        lines: 0,
        first_break: None,
        torn_tail: false,
        last_hash: GENESIS.to_string(),
        valid_bytes: 0,
        keyed: key.is_some(),
    };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| StorageError::io("reading", path, e))?;
        if n == 0 {
            return Ok(report);
        }
        let line_no = report.lines + 1;
        let complete = buf.last() == Some(&b'\n');
        let body = if complete { &buf[..n - 1] } else { &buf[..] };
        let parsed: Result<ChainLine, _> = serde_json::from_slice(body);
        let problem = match parsed {
            Err(_) if !complete => {
                report.torn_tail = true;
                return Ok(report);
            }
            Err(e) => Some(format!("not a valid chained event ({e})")),
            Ok(l) if l.seq != line_no => Some(format!(
                "sequence number {} where {line_no} was expected (a line was removed or reordered)",
                l.seq
            )),
            Ok(l) if mac_problem(l.mac.as_deref(), key).is_some() => {
                mac_problem(l.mac.as_deref(), key)
            }
            Ok(l) if l.prev != report.last_hash => Some(format!(
                "hash of the previous line does not match (the previous line was altered, or a line was removed{})",
                if key.is_some() {
                    "; or the audit key is not the one the log was written with"
                } else {
                    ""
                }
            )),
            // Whole and chained, but the crash came before its newline: still a torn tail
            // (not counted, cut off before the next append), not tampering.
            Ok(_) if !complete => {
                report.torn_tail = true;
                return Ok(report);
            }
            Ok(l) if l.v != 1 && l.v != FORMAT => Some(format!(
                "unknown stored-line format {} (written by a newer perstack?)",
                l.v
            )),
            Ok(l) => match refs.as_deref_mut() {
                Some(cache) => compact::check_refs(l.event, cache)
                    .err()
                    .map(|r| format!("dangling message reference: {r}")),
                None => None,
            },
        };
        if let Some(p) = problem {
            report.first_break = Some((line_no, p));
            return Ok(report);
        }
        report.lines = line_no;
        report.last_hash = link_hash(key, body);
        report.valid_bytes += n as u64;
    }
}

/// Reads every event of a log as it was emitted, expanding message references (stops at a
/// torn or unparsable line; a reference that does not resolve is an error naming the line).
pub(crate) fn read_events(path: &Path) -> Result<Vec<Event>, StorageError> {
    let file = File::open(path).map_err(|e| StorageError::io("opening", path, e))?;
    let mut cache = LogCache::new(job_dir_of(path));
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| StorageError::io("reading", path, e))?;
        let Ok(l) = serde_json::from_str::<ChainLine>(&line) else {
            break;
        };
        let event =
            compact::decode(l.event, l.v, &mut cache).map_err(|reason| StorageError::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "line {}: {reason}; run `perstack log --verify` for the whole log",
                    i + 1
                ),
            })?;
        out.push(event);
    }
    Ok(out)
}
