//! The append-only conversation log of one run. Checkpoints reference a prefix of it instead of
//! repeating every message, which keeps storage linear in the length of a run.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use perstack_core::Message;
use sha2::{Digest, Sha256};

use crate::StorageError;
use crate::atomic::open_append;

/// Appends messages for one run and knows which are already on disk.
#[derive(Debug)]
pub(crate) struct MessageLog {
    /// Path relative to the job folder, as recorded in checkpoint files.
    pub rel: String,
    path: PathBuf,
    file: File,
    ids: Vec<String>,
    hasher: Sha256,
}

/// What a checkpoint file records about its messages.
pub(crate) struct MessageRef {
    pub rel: String,
    pub count: usize,
    pub sha256: String,
}

impl MessageLog {
    /// A new log generation for the run (never reuses a file another process may have left).
    pub fn create(job_dir: &Path, run_id: &str) -> Result<Self, StorageError> {
        let mut generation = 0u32;
        loop {
            let rel = format!("runs/{run_id}/messages-{generation}.jsonl");
            let path = job_dir.join(&rel);
            if !path.exists() {
                let file = open_append(&path)?;
                return Ok(MessageLog {
                    rel,
                    path,
                    file,
                    ids: Vec::new(),
                    hasher: Sha256::new(),
                });
            }
            generation += 1;
        }
    }

    /// True when the persisted messages are a prefix of `messages` (by id), so only the tail
    /// needs appending.
    pub fn extends(&self, messages: &[Message]) -> bool {
        self.ids.len() <= messages.len()
            && self
                .ids
                .iter()
                .zip(messages)
                .all(|(id, m)| id.as_str() == m.id())
    }

    /// Appends the messages not yet on disk, fsyncs, and returns the reference for a
    /// checkpoint plus the bytes written. The caller checked [`MessageLog::extends`].
    pub fn append_tail(&mut self, messages: &[Message]) -> Result<(MessageRef, u64), StorageError> {
        let tail = messages.get(self.ids.len()..).unwrap_or_default();
        let mut buf = Vec::new();
        for m in tail {
            serde_json::to_writer(&mut buf, m).map_err(|source| StorageError::Serialize {
                what: "message",
                source,
            })?;
            buf.push(b'\n');
        }
        if !buf.is_empty() {
            self.file
                .write_all(&buf)
                .map_err(|e| StorageError::io("appending to", &self.path, e))?;
            // Durable before any checkpoint that references these lines is written.
            self.file
                .sync_data()
                .map_err(|e| StorageError::io("syncing", &self.path, e))?;
            self.hasher.update(&buf);
            self.ids.extend(tail.iter().map(|m| m.id().to_string()));
        }
        Ok((
            MessageRef {
                rel: self.rel.clone(),
                count: self.ids.len(),
                sha256: hex(&self.hasher.clone().finalize()),
            },
            buf.len() as u64,
        ))
    }
}

/// Reads the first `count` messages of a log and checks their SHA-256.
pub(crate) fn read_prefix(
    path: &Path,
    count: usize,
    sha256: &str,
) -> Result<Vec<Message>, StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|e| StorageError::io("opening", path, e))?;
    let mut reader = BufReader::new(file);
    let mut hasher = Sha256::new();
    let mut out = Vec::with_capacity(count);
    let mut line = Vec::new();
    for i in 0..count {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| StorageError::io("reading", path, e))?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Err(corrupt(format!(
                "has {i} complete messages, the checkpoint needs {count}"
            )));
        }
        hasher.update(&line);
        let msg: Message = serde_json::from_slice(&line)
            .map_err(|e| corrupt(format!("message {}: {e}", i + 1)))?;
        out.push(msg);
    }
    let got = hex(&hasher.finalize());
    if got != sha256 {
        return Err(corrupt(format!(
            "the first {count} messages do not match the checkpoint's hash (edited after it was written?)"
        )));
    }
    Ok(out)
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
