//! Where things live under `<workspace>/perstack/`.

use std::path::{Path, PathBuf};

use crate::StorageError;

/// Name of the storage folder inside the workspace (hidden from the agent's file tools).
pub const STORAGE_DIR: &str = "perstack";

/// Paths of the storage layout.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

fn checked<'a>(what: &'static str, id: &'a str) -> Result<&'a str, StorageError> {
    if perstack_core::id::is_valid_id(id) {
        Ok(id)
    } else {
        Err(StorageError::InvalidId {
            what,
            id: id.to_string(),
        })
    }
}

impl Layout {
    /// The layout for a workspace.
    pub fn new(workspace: &Path) -> Self {
        Layout {
            root: workspace.join(STORAGE_DIR),
        }
    }

    /// `<workspace>/perstack`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `perstack/jobs`.
    pub fn jobs_dir(&self) -> PathBuf {
        self.root.join("jobs")
    }

    /// `perstack/jobs/<jobId>`.
    pub fn job_dir(&self, job_id: &str) -> Result<PathBuf, StorageError> {
        Ok(self.jobs_dir().join(checked("job id", job_id)?))
    }

    /// `perstack/jobs/<jobId>/job.json`.
    pub fn job_file(&self, job_id: &str) -> Result<PathBuf, StorageError> {
        Ok(self.job_dir(job_id)?.join("job.json"))
    }

    /// `perstack/jobs/<jobId>/checkpoints`.
    pub fn checkpoints_dir(&self, job_id: &str) -> Result<PathBuf, StorageError> {
        Ok(self.job_dir(job_id)?.join("checkpoints"))
    }

    /// `perstack/jobs/<jobId>/checkpoints/<checkpointId>.json`.
    pub fn checkpoint_file(
        &self,
        job_id: &str,
        checkpoint_id: &str,
    ) -> Result<PathBuf, StorageError> {
        Ok(self
            .checkpoints_dir(job_id)?
            .join(format!("{}.json", checked("checkpoint id", checkpoint_id)?)))
    }

    /// `perstack/jobs/<jobId>/delegations`.
    pub fn suspended_dir(&self, job_id: &str) -> Result<PathBuf, StorageError> {
        Ok(self.job_dir(job_id)?.join("delegations"))
    }

    /// `perstack/jobs/<jobId>/delegations/<parentCheckpointId>.json`.
    pub fn suspended_file(
        &self,
        job_id: &str,
        parent_checkpoint_id: &str,
    ) -> Result<PathBuf, StorageError> {
        Ok(self.suspended_dir(job_id)?.join(format!(
            "{}.json",
            checked("checkpoint id", parent_checkpoint_id)?
        )))
    }

    /// `perstack/jobs/<jobId>/runs/<runId>`.
    pub fn run_dir(&self, job_id: &str, run_id: &str) -> Result<PathBuf, StorageError> {
        Ok(self
            .job_dir(job_id)?
            .join("runs")
            .join(checked("run id", run_id)?))
    }

    /// `perstack/jobs/<jobId>/runs/<runId>/events.jsonl`.
    pub fn events_file(&self, job_id: &str, run_id: &str) -> Result<PathBuf, StorageError> {
        Ok(self.run_dir(job_id, run_id)?.join("events.jsonl"))
    }
}
