//! Checkpoints: resumable snapshots of an Expert run (Perstack's `Checkpoint`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::message::Message;
use crate::tool::{ToolCall, ToolResult};
use crate::usage::Usage;

/// Where a run stands. The first seven are Perstack's; the rest are this runtime's own and
/// are documented in `docs/checkpoints.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CheckpointStatus {
    /// Created, no step run yet.
    Init,
    /// Between steps.
    Proceeding,
    /// The run finished with a result.
    Completed,
    /// Waiting for the application to answer an interactive tool call.
    StoppedByInteractiveTool,
    /// Waiting for delegated Experts.
    StoppedByDelegate,
    /// The step limit was reached.
    StoppedByExceededMaxSteps,
    /// An error stopped the run.
    StoppedByError,
    /// Ours: a tool call that requires approval is waiting for a decision.
    StoppedByApproval,
    /// Ours: a token, cost or wall-clock budget was exhausted.
    StoppedByBudget,
    /// Ours: the process was asked to stop (SIGTERM/SIGINT); resumable.
    StoppedBySignal,
}

impl CheckpointStatus {
    /// Every status, Perstack's first.
    pub const ALL: [CheckpointStatus; 10] = [
        CheckpointStatus::Init,
        CheckpointStatus::Proceeding,
        CheckpointStatus::Completed,
        CheckpointStatus::StoppedByInteractiveTool,
        CheckpointStatus::StoppedByDelegate,
        CheckpointStatus::StoppedByExceededMaxSteps,
        CheckpointStatus::StoppedByError,
        CheckpointStatus::StoppedByApproval,
        CheckpointStatus::StoppedByBudget,
        CheckpointStatus::StoppedBySignal,
    ];

    /// True for statuses Perstack itself defines (safe to hand to Perstack tooling).
    pub fn is_perstack_status(self) -> bool {
        match self {
            CheckpointStatus::Init
            | CheckpointStatus::Proceeding
            | CheckpointStatus::Completed
            | CheckpointStatus::StoppedByInteractiveTool
            | CheckpointStatus::StoppedByDelegate
            | CheckpointStatus::StoppedByExceededMaxSteps
            | CheckpointStatus::StoppedByError => true,
            CheckpointStatus::StoppedByApproval
            | CheckpointStatus::StoppedByBudget
            | CheckpointStatus::StoppedBySignal => false,
        }
    }

    /// True when the run ended and cannot make progress without new input.
    pub fn is_stopped(self) -> bool {
        !matches!(self, CheckpointStatus::Init | CheckpointStatus::Proceeding)
    }
}

/// Identifies an Expert inside a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpertRef {
    /// Expert key as configured.
    pub key: String,
    /// Expert name.
    pub name: String,
    /// Expert version (`1.0.0` when the config gives none).
    pub version: String,
}

/// One Expert a checkpoint is delegating to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DelegationTarget {
    /// The delegate.
    pub expert: ExpertRef,
    /// The parent's tool call that started the delegation.
    pub tool_call_id: String,
    /// The delegate tool's name.
    pub tool_name: String,
    /// The query passed to the delegate.
    pub query: String,
}

/// The parent of a delegated run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedBy {
    /// The parent Expert.
    pub expert: ExpertRef,
    /// The parent's tool call id.
    pub tool_call_id: String,
    /// The delegate tool's name.
    pub tool_name: String,
    /// The parent's checkpoint id.
    pub checkpoint_id: String,
    /// The parent's run id.
    pub run_id: String,
}

/// Why a run stopped with an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointError {
    /// Error class, e.g. `ProviderError`.
    pub name: String,
    /// Human-readable message.
    pub message: String,
    /// HTTP status when the error came from a provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Whether trying again may succeed.
    pub is_retryable: bool,
}

/// A point-in-time snapshot of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Checkpoint id.
    pub id: String,
    /// Job the run belongs to.
    pub job_id: String,
    /// Run id.
    pub run_id: String,
    /// Where the run stands.
    pub status: CheckpointStatus,
    /// Step number within the job (1-based once a step started).
    pub step_number: u32,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The Expert running.
    pub expert: ExpertRef,
    /// Delegates being waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate_to: Option<Vec<DelegationTarget>>,
    /// The parent, for a delegated run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegated_by: Option<DelegatedBy>,
    /// Usage accumulated so far.
    pub usage: Usage,
    /// The model's context window in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    /// Share of the context window used (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window_usage: Option<f64>,
    /// Tool calls still to run (resume after delegate, interactive tool or approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_tool_calls: Option<Vec<ToolCall>>,
    /// Results already collected for the step being resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_tool_results: Option<Vec<ToolResult>>,
    /// Runtime-specific data (`runtime`, our trace fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Set when the status is `stoppedByError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CheckpointError>,
    /// Consecutive retries of the current generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u32>,
}

impl Checkpoint {
    /// A copy with no messages: what an event needs when the conversation travels apart
    /// from it (copying the messages would cost the run's whole history every step).
    pub fn without_messages(&self) -> Checkpoint {
        Checkpoint {
            id: self.id.clone(),
            job_id: self.job_id.clone(),
            run_id: self.run_id.clone(),
            status: self.status,
            step_number: self.step_number,
            messages: Vec::new(),
            expert: self.expert.clone(),
            delegate_to: self.delegate_to.clone(),
            delegated_by: self.delegated_by.clone(),
            usage: self.usage,
            context_window: self.context_window,
            context_window_usage: self.context_window_usage,
            pending_tool_calls: self.pending_tool_calls.clone(),
            partial_tool_results: self.partial_tool_results.clone(),
            metadata: self.metadata.clone(),
            error: self.error.clone(),
            retry_count: self.retry_count,
        }
    }

    /// A fresh `init` checkpoint: no messages, no usage, nothing pending.
    pub fn init(
        id: impl Into<String>,
        job_id: impl Into<String>,
        run_id: impl Into<String>,
        expert: ExpertRef,
    ) -> Self {
        Checkpoint {
            id: id.into(),
            job_id: job_id.into(),
            run_id: run_id.into(),
            status: CheckpointStatus::Init,
            step_number: 0,
            messages: Vec::new(),
            expert,
            delegate_to: None,
            delegated_by: None,
            usage: Usage::default(),
            context_window: None,
            context_window_usage: None,
            pending_tool_calls: None,
            partial_tool_results: None,
            metadata: None,
            error: None,
            retry_count: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_serialize_as_perstack_names() {
        let names: Vec<String> = CheckpointStatus::ALL
            .iter()
            .map(|s| {
                serde_json::to_value(s)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "init",
                "proceeding",
                "completed",
                "stoppedByInteractiveTool",
                "stoppedByDelegate",
                "stoppedByExceededMaxSteps",
                "stoppedByError",
                "stoppedByApproval",
                "stoppedByBudget",
                "stoppedBySignal"
            ]
        );
        assert_eq!(
            CheckpointStatus::ALL
                .iter()
                .filter(|s| s.is_perstack_status())
                .count(),
            7
        );
    }
}
