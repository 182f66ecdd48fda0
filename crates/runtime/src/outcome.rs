//! What a run ends with, and the exit code the CLI turns it into.

use perstack_core::{Checkpoint, CheckpointStatus, Job};

/// The end of an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The last checkpoint (stored, when storage is in use). When a delegate stopped for the
    /// application, that delegate's checkpoint: the one to resume.
    pub checkpoint: Checkpoint,
    /// The job as stored at the end.
    pub job: Job,
    /// The result text, when the run completed.
    pub text: Option<String>,
}

impl RunOutcome {
    /// The final status.
    pub fn status(&self) -> CheckpointStatus {
        self.checkpoint.status
    }

    /// The process exit code for this outcome (see [`exit_code`]).
    pub fn exit_code(&self) -> i32 {
        exit_code(self.checkpoint.status)
    }
}

/// Exit code of a run that ended with `status`: 0 completed, 1 error, 3 stopped for the
/// application (interactive tool, approval), 4 max steps, 5 budget, 143 signal.
pub fn exit_code(status: CheckpointStatus) -> i32 {
    match status {
        CheckpointStatus::Completed => 0,
        CheckpointStatus::StoppedByInteractiveTool | CheckpointStatus::StoppedByApproval => 3,
        CheckpointStatus::StoppedByExceededMaxSteps => 4,
        CheckpointStatus::StoppedByBudget => 5,
        CheckpointStatus::StoppedBySignal => 143,
        // A run never ends in these; if one does, it is an error.
        CheckpointStatus::StoppedByError
        | CheckpointStatus::Init
        | CheckpointStatus::Proceeding
        | CheckpointStatus::StoppedByDelegate => 1,
    }
}
