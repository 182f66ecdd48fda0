//! The append-only conversation log of one run. Checkpoints and stored events reference a
//! prefix of it instead of repeating every message, which keeps storage linear in the length
//! of a run.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use perstack_core::Message;
use sha2::{Digest, Sha256};

use crate::StorageError;
use crate::atomic::{Durability, SyncCounter, open_append};

/// Appends messages for one run and knows which are already on disk.
#[derive(Debug)]
pub(crate) struct MessageLog {
    /// Path relative to the job folder, as recorded in checkpoint files.
    pub rel: String,
    path: PathBuf,
    file: File,
    /// SHA-256 of each line on disk, in order: a conversation is compared with the log
    /// through these, so the log keeps no second copy of the run's messages in memory.
    line_hashes: Vec<[u8; 32]>,
    /// The newest message on disk, compared whole in the common case.
    last: Option<Message>,
    /// `digests[k]`: SHA-256 of the first k lines, so any prefix can be referenced.
    digests: Vec<[u8; 32]>,
    hasher: Sha256,
    /// Leading lines whose content a line of the run's event log already holds inline, so
    /// that the event log alone can rebuild them: only these may be referenced by events.
    pub carried: usize,
}

/// What a checkpoint file or stored event records about a prefix of a message log.
pub(crate) struct MessageRef {
    pub rel: String,
    pub count: usize,
    pub sha256: String,
}

impl MessageLog {
    /// A new log generation for the run (never reuses a file another process may have left).
    /// It is not synced: every line of it is also carried by the run's event log, which is.
    pub fn create(
        counter: &SyncCounter,
        job_dir: &Path,
        run_id: &str,
    ) -> Result<Self, StorageError> {
        let mut generation = 0u32;
        loop {
            let rel = format!("runs/{run_id}/messages-{generation}.jsonl");
            let path = job_dir.join(&rel);
            if !path.exists() {
                let file = open_append(counter, &path, Durability::Replaced)?;
                let hasher = Sha256::new();
                return Ok(MessageLog {
                    rel,
                    path,
                    file,
                    line_hashes: Vec::new(),
                    last: None,
                    digests: vec![hasher.clone().finalize().into()],
                    hasher,
                    carried: 0,
                });
            }
            generation += 1;
        }
    }

    /// How many leading messages of `messages` equal the log's first lines.
    pub fn common_prefix(&self, messages: &[Message]) -> usize {
        // A run's conversation only grows, so when the newest logged message is in its place
        // (ids are unique), everything before it is too: checking it alone keeps a step's
        // cost independent of the run's length. Anything else is compared message by message.
        let n = self.line_hashes.len();
        if n > 0 && n <= messages.len() && self.last.as_ref() == messages.get(n - 1) {
            return n;
        }
        // Otherwise a message is in place when it encodes to the logged line. (Equal objects
        // whose keys come in another order encode differently: such a message counts as
        // changed, which costs a new log or inline messages, never a wrong reference.)
        self.line_hashes
            .iter()
            .zip(messages)
            .take_while(|(hash, m)| line_hash(m).is_some_and(|h| h == **hash))
            .count()
    }

    /// True when the persisted messages are a prefix of `messages`, so only the tail needs
    /// appending.
    pub fn extends(&self, messages: &[Message]) -> bool {
        self.common_prefix(messages) == self.line_hashes.len()
    }

    /// The reference to the first `count` lines (`count` at most the lines on disk).
    pub fn prefix_ref(&self, count: usize) -> MessageRef {
        let digest = self.digests.get(count).copied().unwrap_or_default();
        MessageRef {
            rel: self.rel.clone(),
            count,
            sha256: hex(&digest),
        }
    }

    /// Appends the messages not yet written (no sync: the event that carries the checkpoint
    /// holds them inline until an earlier line of the event log does) and returns the
    /// reference for a checkpoint plus the bytes written. The caller checked
    /// [`MessageLog::extends`].
    pub fn append_tail(&mut self, messages: &[Message]) -> Result<(MessageRef, u64), StorageError> {
        let tail = messages.get(self.line_hashes.len()..).unwrap_or_default();
        let (buf, line_ends) = encode_lines(tail)?;
        if !buf.is_empty() {
            self.file
                .write_all(&buf)
                .map_err(|e| StorageError::io("appending to", &self.path, e))?;
            let mut start = 0;
            for end in line_ends {
                let line = buf.get(start..end).unwrap_or_default();
                self.hasher.update(line);
                self.digests.push(self.hasher.clone().finalize().into());
                self.line_hashes.push(Sha256::digest(line).into());
                start = end;
            }
            self.last = tail.last().cloned();
        }
        Ok((self.prefix_ref(self.line_hashes.len()), buf.len() as u64))
    }
}

/// SHA-256 of `m`'s log line (None if it cannot be encoded).
fn line_hash(m: &Message) -> Option<[u8; 32]> {
    let mut line = serde_json::to_vec(m).ok()?;
    line.push(b'\n');
    Some(Sha256::digest(&line).into())
}

/// `messages` as log lines (one JSON object and a newline each), with where each line ends.
pub(crate) fn encode_lines(messages: &[Message]) -> Result<(Vec<u8>, Vec<usize>), StorageError> {
    let mut buf = Vec::new();
    let mut line_ends = Vec::with_capacity(messages.len());
    for m in messages {
        serde_json::to_writer(&mut buf, m).map_err(|source| StorageError::Serialize {
            what: "message",
            source,
        })?;
        buf.push(b'\n');
        line_ends.push(buf.len());
    }
    Ok((buf, line_ends))
}

/// Reads the first `count` messages of a log and checks their SHA-256.
pub(crate) fn read_prefix(
    path: &Path,
    count: usize,
    sha256: &str,
) -> Result<Vec<Message>, StorageError> {
    let loaded = LoadedLog::read(path)?;
    loaded
        .prefix(count, sha256)
        .map(<[Message]>::to_vec)
        .map_err(|reason| StorageError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })
}

/// A message log read from disk: its complete, parsable lines and their prefix digests.
#[derive(Debug)]
pub(crate) struct LoadedLog {
    pub(crate) messages: Vec<Message>,
    digests: Vec<[u8; 32]>,
    /// Bytes of the complete, parsable lines read.
    pub(crate) valid_bytes: u64,
}

impl LoadedLog {
    /// Reads every complete line; stops at a torn or unparsable line (lines after the last
    /// checkpoint of a crashed writer are never referenced).
    pub fn read(path: &Path) -> Result<Self, StorageError> {
        let file = File::open(path).map_err(|e| StorageError::io("opening", path, e))?;
        let mut reader = BufReader::new(file);
        let mut hasher = Sha256::new();
        let mut out = LoadedLog {
            messages: Vec::new(),
            digests: vec![hasher.clone().finalize().into()],
            valid_bytes: 0,
        };
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| StorageError::io("reading", path, e))?;
            if n == 0 || line.last() != Some(&b'\n') {
                return Ok(out);
            }
            let Ok(msg) = serde_json::from_slice::<Message>(&line) else {
                return Ok(out);
            };
            hasher.update(&line);
            out.digests.push(hasher.clone().finalize().into());
            out.messages.push(msg);
            out.valid_bytes += n as u64;
        }
    }

    /// Lines read.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Lowercase hex SHA-256 of the first `count` lines, if the log has them.
    pub fn digest(&self, count: usize) -> Option<String> {
        self.digests.get(count).map(|d| hex(d))
    }

    /// The first `count` messages, if the log has them and they hash to `sha256`; otherwise
    /// what is wrong.
    pub fn prefix(&self, count: usize, sha256: &str) -> Result<&[Message], String> {
        let (Some(messages), Some(digest)) = (self.messages.get(..count), self.digests.get(count))
        else {
            return Err(format!(
                "has {} complete messages, {count} are referenced",
                self.messages.len()
            ));
        };
        if hex(digest) != sha256 {
            return Err(format!(
                "the first {count} messages do not match the recorded hash (edited after they were referenced?)"
            ));
        }
        Ok(messages)
    }
}

/// Message logs of one job read on demand, each at most once (plus a re-read when a live
/// writer has appended since).
#[derive(Debug)]
pub(crate) struct LogCache {
    job_dir: PathBuf,
    logs: HashMap<String, LoadedLog>,
}

impl LogCache {
    /// A cache for the job at `job_dir`.
    pub fn new(job_dir: PathBuf) -> Self {
        LogCache {
            job_dir,
            logs: HashMap::new(),
        }
    }

    /// The `count` first messages of the log `rel` (relative to the job folder), checked
    /// against `sha256`; otherwise why the reference dangles.
    pub fn resolve(&mut self, rel: &str, count: usize, sha256: &str) -> Result<&[Message], String> {
        if !is_safe_rel(rel) {
            return Err(format!("message log path \"{rel}\" leaves the job folder"));
        }
        if count == 0 {
            // Nothing referenced (the messages are all inline): the log need not exist yet.
            return Ok(&[]);
        }
        let stale = self.logs.get(rel).is_none_or(|l| l.len() < count);
        if stale {
            let path = self.job_dir.join(rel);
            if !path.exists() {
                return Err(format!("references {rel}, which does not exist"));
            }
            let loaded = LoadedLog::read(&path).map_err(|e| e.to_string())?;
            self.logs.insert(rel.to_string(), loaded);
        }
        match self.logs.get(rel) {
            Some(log) => log.prefix(count, sha256).map_err(|r| format!("{rel} {r}")),
            None => Err(format!("references {rel}, which could not be read")),
        }
    }
}

/// True for a relative path inside `runs/` without `.`/`..` components.
pub(crate) fn is_safe_rel(rel: &str) -> bool {
    rel.starts_with("runs/")
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != ".." && c != ".")
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use pretty_assertions::assert_eq;

    use super::*;

    fn log_of(dir: &Path, messages: &[Message]) -> MessageLog {
        let mut log = MessageLog::create(&SyncCounter::default(), dir, "run1").unwrap();
        assert!(log.extends(&[]));
        log.append_tail(messages).unwrap();
        log
    }

    #[test]
    fn the_common_prefix_is_found_without_a_copy_of_the_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            Message::user_text("a"),
            Message::user_text("b"),
            Message::user_text("c"),
        );
        let log = log_of(dir.path(), &[a.clone(), b.clone(), c.clone()]);
        let x = Message::user_text("x");
        // The newest line in place: the whole log is a prefix.
        assert_eq!(
            log.common_prefix(&[a.clone(), b.clone(), c.clone(), x.clone()]),
            3
        );
        assert!(log.extends(&[a.clone(), b.clone(), c.clone()]));
        // A conversation changed after its second message, shorter than the log, or different
        // from the start: compared line by line.
        assert_eq!(
            log.common_prefix(&[a.clone(), b.clone(), x.clone(), c.clone()]),
            2
        );
        assert_eq!(log.common_prefix(&[a.clone(), b.clone()]), 2);
        assert_eq!(log.common_prefix(&[x.clone(), b.clone()]), 0);
        assert!(!log.extends(&[a, x]));
    }

    #[test]
    fn appending_continues_after_the_lines_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Message::user_text("a"), Message::user_text("b"));
        let mut log = log_of(dir.path(), std::slice::from_ref(&a));
        let (mref, _) = log.append_tail(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(mref.count, 2);
        let loaded = LoadedLog::read(&log.path).unwrap();
        assert_eq!(loaded.messages, vec![a, b]);
        assert_eq!(loaded.digest(2), Some(mref.sha256));
    }
}
