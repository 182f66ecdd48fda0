//! Jobs: one top-level execution, possibly spanning several runs (delegation, continue).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checkpoint::CheckpointStatus;
use crate::usage::Usage;

/// Where a job stands (Perstack's `JobStatus`, plus ours documented in `docs/checkpoints.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum JobStatus {
    /// A run is in progress.
    Running,
    /// Finished with a result.
    Completed,
    /// The step limit was reached.
    StoppedByMaxSteps,
    /// Waiting for an interactive tool result.
    StoppedByInteractiveTool,
    /// An error stopped the job.
    StoppedByError,
    /// Ours: waiting for an approval decision.
    StoppedByApproval,
    /// Ours: a budget or wall-clock limit was exhausted.
    StoppedByBudget,
    /// Ours: stopped by a signal; resumable.
    StoppedBySignal,
}

/// A job record (`perstack/jobs/<jobId>/job.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Job id.
    pub id: String,
    /// Where the job stands.
    pub status: JobStatus,
    /// The Expert the job was started with.
    pub coordinator_expert_key: String,
    /// Steps run so far across all runs of the job.
    pub total_steps: u32,
    /// The step limit in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u32>,
    /// Usage across all runs.
    pub usage: Usage,
    /// Start time, ms since the epoch.
    pub started_at: u64,
    /// End time, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
}

impl From<CheckpointStatus> for JobStatus {
    /// The job status a run that ended with a checkpoint of `status` leaves (a delegate's
    /// or an unfinished checkpoint as the job's end means it stopped by error).
    fn from(status: CheckpointStatus) -> Self {
        match status {
            CheckpointStatus::Completed => JobStatus::Completed,
            CheckpointStatus::StoppedByInteractiveTool => JobStatus::StoppedByInteractiveTool,
            CheckpointStatus::StoppedByExceededMaxSteps => JobStatus::StoppedByMaxSteps,
            CheckpointStatus::StoppedByApproval => JobStatus::StoppedByApproval,
            CheckpointStatus::StoppedByBudget => JobStatus::StoppedByBudget,
            CheckpointStatus::StoppedBySignal => JobStatus::StoppedBySignal,
            CheckpointStatus::StoppedByError
            | CheckpointStatus::Init
            | CheckpointStatus::Proceeding
            | CheckpointStatus::StoppedByDelegate => JobStatus::StoppedByError,
        }
    }
}
