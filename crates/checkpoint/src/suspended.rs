//! Suspended delegations: what a parent's delegation holds while some of its delegates wait
//! for the application (an interactive tool or an approval). Checkpoints stay immutable; this
//! record keeps the results of the delegates that finished (so that they are not run again)
//! and points at the checkpoints the others wait in, until the parent continues.

use perstack_core::{ToolResult, Usage};
use serde::{Deserialize, Serialize};

use crate::StorageError;
use crate::atomic::{Durability, write_atomic};
use crate::store::{Storage, json_entries, read_json, to_json};

/// The delegation of one parent checkpoint (`stoppedByDelegate`) that waits for the
/// application, stored as `jobs/<jobId>/delegations/<parentCheckpointId>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuspendedDelegation {
    /// The parent's `stoppedByDelegate` checkpoint (what the delegates' `delegatedBy` names).
    pub parent_checkpoint_id: String,
    /// True when the parent is the job's coordinator (not itself a delegate).
    pub root: bool,
    /// Delegates that finished: their results for the parent, in call order.
    pub finished: Vec<FinishedDelegate>,
    /// Delegates still waiting, in call order.
    pub waiting: Vec<WaitingDelegate>,
}

/// A delegate that finished while a sibling waits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinishedDelegate {
    /// Its result, as the parent's tool result.
    pub result: ToolResult,
    /// Tokens it used.
    pub usage: Usage,
    /// The step number it ended at.
    pub step_number: u32,
}

/// A delegate waiting for the application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingDelegate {
    /// The parent's delegate tool call.
    pub tool_call_id: String,
    /// The innermost stopped checkpoint below it (the one to resume).
    pub checkpoint_id: String,
    /// Tokens it (and its own delegates) used so far.
    pub usage: Usage,
    /// The highest step number reached below it.
    pub step_number: u32,
}

impl Storage {
    /// Writes the record of a suspended delegation atomically (replacing an earlier one).
    pub fn store_suspended(
        &self,
        job_id: &str,
        record: &SuspendedDelegation,
    ) -> Result<(), StorageError> {
        let path = self
            .layout()
            .suspended_file(job_id, &record.parent_checkpoint_id)?;
        // Synced: nothing else records which delegates a parent waits for.
        write_atomic(
            &self.counter,
            &path,
            &to_json("suspended delegation", record)?,
            Durability::Synced,
        )
    }

    /// The record of the delegation of `parent_checkpoint_id`, if it is suspended.
    pub fn load_suspended(
        &self,
        job_id: &str,
        parent_checkpoint_id: &str,
    ) -> Result<Option<SuspendedDelegation>, StorageError> {
        let path = self.layout().suspended_file(job_id, parent_checkpoint_id)?;
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }

    /// Removes the record once the parent continues (no record is not an error).
    pub fn remove_suspended(
        &self,
        job_id: &str,
        parent_checkpoint_id: &str,
    ) -> Result<(), StorageError> {
        let path = self.layout().suspended_file(job_id, parent_checkpoint_id)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io("removing", &path, e)),
        }
    }

    /// Every suspended delegation of a job (none when the job waits on nothing delegated).
    pub fn list_suspended(&self, job_id: &str) -> Result<Vec<SuspendedDelegation>, StorageError> {
        let dir = self.layout().suspended_dir(job_id)?;
        let mut out = Vec::new();
        for entry in json_entries(&dir) {
            out.push(read_json(&entry.path())?);
        }
        out.sort_by(|a: &SuspendedDelegation, b| {
            a.parent_checkpoint_id.cmp(&b.parent_checkpoint_id)
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use perstack_core::{MessagePart, TextPart};
    use pretty_assertions::assert_eq;

    #[test]
    fn records_round_trip_and_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(dir.path());
        assert_eq!(storage.list_suspended("job1").unwrap(), vec![]);
        let record = SuspendedDelegation {
            parent_checkpoint_id: "cp1".into(),
            root: true,
            finished: vec![FinishedDelegate {
                result: ToolResult {
                    id: "d1".into(),
                    skill_name: "delegate/helper".into(),
                    tool_name: "helper".into(),
                    result: vec![MessagePart::Text(TextPart::new("42"))],
                    is_error: None,
                },
                usage: Usage::default(),
                step_number: 3,
            }],
            waiting: vec![WaitingDelegate {
                tool_call_id: "d2".into(),
                checkpoint_id: "cp9".into(),
                usage: Usage::default(),
                step_number: 4,
            }],
        };
        storage.store_suspended("job1", &record).unwrap();
        assert_eq!(
            storage.load_suspended("job1", "cp1").unwrap(),
            Some(record.clone())
        );
        assert_eq!(storage.list_suspended("job1").unwrap(), vec![record]);
        storage.remove_suspended("job1", "cp1").unwrap();
        storage.remove_suspended("job1", "cp1").unwrap();
        assert_eq!(storage.load_suspended("job1", "cp1").unwrap(), None);
        assert!(
            storage
                .store_suspended(
                    "job1",
                    &SuspendedDelegation {
                        parent_checkpoint_id: "../x".into(),
                        root: true,
                        finished: vec![],
                        waiting: vec![],
                    }
                )
                .is_err()
        );
    }
}
