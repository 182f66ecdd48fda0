//! References of the compact stream: a message by its index in the run's conversation, a
//! checkpoint and a step without the messages they repeat.

use perstack_core::{
    Checkpoint, CheckpointError, CheckpointStatus, DelegatedBy, DelegationTarget, ExpertRef,
    Message, Step, ToolCall, ToolResult, Usage,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A message: its index in the run's conversation, or the message itself when the
/// conversation does not hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MessageRef {
    /// Index in the run's conversation (0-based).
    Index(usize),
    /// A message outside the conversation.
    Inline(Box<Message>),
}

/// A checkpoint without its conversation: it holds the first `messageCount` messages of the
/// run's conversation; every other field is the checkpoint's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointRef {
    /// Checkpoint id.
    pub id: String,
    /// Where the run stands.
    pub status: CheckpointStatus,
    /// Step number.
    pub step_number: u32,
    /// Usage accumulated so far.
    pub usage: Usage,
    /// How many leading messages of the run's conversation the checkpoint holds.
    pub message_count: usize,
    /// Job the run belongs to.
    pub job_id: String,
    /// Run id.
    pub run_id: String,
    /// The Expert running.
    pub expert: ExpertRef,
    /// Delegates being waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate_to: Option<Vec<DelegationTarget>>,
    /// The parent, for a delegated run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegated_by: Option<DelegatedBy>,
    /// The model's context window in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    /// Share of the context window used (0 to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window_usage: Option<f64>,
    /// Tool calls still to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_tool_calls: Option<Vec<ToolCall>>,
    /// Results already collected for the step being resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_tool_results: Option<Vec<ToolResult>>,
    /// Runtime-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Set when the status is `stoppedByError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CheckpointError>,
    /// Consecutive retries of the current generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u32>,
}

impl CheckpointRef {
    /// `cp` (its `messages` ignored) holding the first `message_count` messages.
    pub fn new(cp: Checkpoint, message_count: usize) -> Self {
        let Checkpoint {
            id,
            job_id,
            run_id,
            status,
            step_number,
            messages: _,
            expert,
            delegate_to,
            delegated_by,
            usage,
            context_window,
            context_window_usage,
            pending_tool_calls,
            partial_tool_results,
            metadata,
            error,
            retry_count,
        } = cp;
        CheckpointRef {
            id,
            status,
            step_number,
            usage,
            message_count,
            job_id,
            run_id,
            expert,
            delegate_to,
            delegated_by,
            context_window,
            context_window_usage,
            pending_tool_calls,
            partial_tool_results,
            metadata,
            error,
            retry_count,
        }
    }

    /// The full checkpoint, with `messages` as its conversation.
    pub fn into_checkpoint(self, messages: Vec<Message>) -> Checkpoint {
        Checkpoint {
            id: self.id,
            job_id: self.job_id,
            run_id: self.run_id,
            status: self.status,
            step_number: self.step_number,
            messages,
            expert: self.expert,
            delegate_to: self.delegate_to,
            delegated_by: self.delegated_by,
            usage: self.usage,
            context_window: self.context_window,
            context_window_usage: self.context_window_usage,
            pending_tool_calls: self.pending_tool_calls,
            partial_tool_results: self.partial_tool_results,
            metadata: self.metadata,
            error: self.error,
            retry_count: self.retry_count,
        }
    }
}

/// A step whose messages are references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRef {
    /// Step number, 1-based.
    pub step_number: u32,
    /// Messages added before generating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_messages: Option<Vec<MessageRef>>,
    /// Messages produced in this step.
    pub new_messages: Vec<MessageRef>,
    /// Tool calls made in this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Their results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_results: Option<Vec<ToolResult>>,
    /// Calls still waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_tool_calls: Option<Vec<ToolCall>>,
    /// Results collected so far when the step was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_tool_results: Option<Vec<ToolResult>>,
    /// Usage of this step.
    pub usage: Usage,
    /// Start time, ms since the epoch.
    pub started_at: u64,
    /// End time, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
}

impl StepRef {
    /// `step` with its messages turned into references by `refer`.
    pub fn new(step: Step, mut refer: impl FnMut(Message) -> MessageRef) -> Self {
        StepRef {
            step_number: step.step_number,
            input_messages: step
                .input_messages
                .map(|ms| ms.into_iter().map(&mut refer).collect()),
            new_messages: step.new_messages.into_iter().map(&mut refer).collect(),
            tool_calls: step.tool_calls,
            tool_results: step.tool_results,
            pending_tool_calls: step.pending_tool_calls,
            partial_tool_results: step.partial_tool_results,
            usage: step.usage,
            started_at: step.started_at,
            finished_at: step.finished_at,
        }
    }

    /// The full step, references resolved by `resolve`.
    pub fn into_step<E>(
        self,
        mut resolve: impl FnMut(MessageRef) -> Result<Message, E>,
    ) -> Result<Step, E> {
        Ok(Step {
            step_number: self.step_number,
            input_messages: self
                .input_messages
                .map(|ms| ms.into_iter().map(&mut resolve).collect())
                .transpose()?,
            new_messages: self
                .new_messages
                .into_iter()
                .map(&mut resolve)
                .collect::<Result<_, E>>()?,
            tool_calls: self.tool_calls,
            tool_results: self.tool_results,
            pending_tool_calls: self.pending_tool_calls,
            partial_tool_results: self.partial_tool_results,
            usage: self.usage,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}
