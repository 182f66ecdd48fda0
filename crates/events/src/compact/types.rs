//! The compact wire types: Perstack's run events with conversations, checkpoints, steps and
//! messages replaced by references.

use perstack_core::{CheckpointError, Message, ToolCall, ToolResult, Usage};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use super::refs::{CheckpointRef, MessageRef, StepRef};

use crate::run::{BudgetExceeded, RunEventPayload};
use crate::runtime::{RuntimeEvent, RuntimeEventPayload};

/// One line of the compact stream.
#[derive(Debug, Clone, PartialEq)]
pub enum CompactEvent {
    /// A run event, compact.
    Run(Box<CompactRunEvent>),
    /// A runtime event, as in the full stream.
    Runtime(Box<RuntimeEvent>),
    /// A `type` this version does not know (a newer runtime's, or `auditAnchor`), verbatim.
    Unknown(Value),
}

impl CompactEvent {
    /// The event's `type`.
    pub fn type_name(&self) -> &str {
        match self {
            CompactEvent::Run(e) => e.payload.type_name(),
            CompactEvent::Runtime(e) => e.payload.type_name(),
            CompactEvent::Unknown(v) => v.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// Parses one line's JSON, dispatching on `type`.
    pub fn from_value(value: Value) -> Result<CompactEvent, serde_json::Error> {
        let ty = value.get("type").and_then(Value::as_str).unwrap_or("");
        if RunEventPayload::TYPES.contains(&ty) {
            serde_json::from_value(value).map(|e| CompactEvent::Run(Box::new(e)))
        } else if RuntimeEventPayload::TYPES.contains(&ty) {
            serde_json::from_value(value).map(|e| CompactEvent::Runtime(Box::new(e)))
        } else if ty.is_empty() {
            Err(serde::de::Error::custom("missing string field `type`"))
        } else {
            Ok(CompactEvent::Unknown(value))
        }
    }
}

impl Serialize for CompactEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CompactEvent::Run(e) => e.serialize(s),
            CompactEvent::Runtime(e) => e.serialize(s),
            CompactEvent::Unknown(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for CompactEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        CompactEvent::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// Schema-only mirror of [`CompactEvent`].
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // only its JsonSchema impl is used
pub(crate) enum CompactEventSchema {
    /// A compact run event.
    Run(CompactRunEvent),
    /// A runtime event.
    Runtime(RuntimeEvent),
    /// The last line of `perstack run` (ours, never stored).
    AuditAnchor(crate::anchor::AuditAnchor),
}

/// Messages that join a run's conversation: the conversation becomes its first `from`
/// messages followed by `messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationUpdate {
    /// Messages of the conversation kept (all of them, unless it was rewritten).
    pub from: usize,
    /// The new messages, in order.
    pub messages: Vec<Message>,
}

/// A run event of the compact stream: Perstack's envelope, the messages that are new, and
/// the payload with references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompactRunEvent {
    /// Event id.
    pub id: String,
    /// Emission time, ms since the epoch.
    pub timestamp: u64,
    /// The job.
    pub job_id: String,
    /// The run.
    pub run_id: String,
    /// The Expert.
    pub expert_key: String,
    /// The step the run is at.
    pub step_number: u32,
    /// Messages that joined the run's conversation since the previous event; applied before
    /// the payload's references are read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationUpdate>,
    /// `type` and the type's fields.
    #[serde(flatten)]
    pub payload: CompactRunPayload,
}

/// The payload of a compact run event: Perstack's, with references where the full stream
/// repeats a conversation, checkpoint, step or message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[allow(clippy::large_enum_variant)] // built once, written once
pub enum CompactRunPayload {
    /// The run started.
    StartRun {
        /// The checkpoint the run starts from.
        initial_checkpoint: CheckpointRef,
        /// Messages added before the first generation.
        input_messages: Vec<MessageRef>,
    },
    /// A generation request is about to be sent with the first `messageCount` messages.
    StartGeneration {
        /// How many leading messages of the conversation are sent.
        message_count: usize,
    },
    /// A generation failed and is retried.
    Retry {
        /// Why.
        reason: String,
        /// Messages added for the retry.
        new_messages: Vec<MessageRef>,
        /// Tool calls of the failed attempt, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_calls: Option<Vec<ToolCall>>,
        /// Tool results of the failed attempt, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_results: Option<Vec<ToolResult>>,
        /// Usage of the failed attempt.
        usage: Usage,
    },
    /// The model called MCP tools.
    CallTools {
        /// The model's message.
        new_message: MessageRef,
        /// The calls.
        tool_calls: Vec<ToolCall>,
        /// Usage of the generation.
        usage: Usage,
    },
    /// The model called an interactive tool.
    CallInteractiveTool {
        /// The model's message.
        new_message: MessageRef,
        /// The call.
        tool_call: ToolCall,
        /// Usage of the generation.
        usage: Usage,
    },
    /// The model delegated to other Experts.
    CallDelegate {
        /// The model's message.
        new_message: MessageRef,
        /// The delegate calls.
        tool_calls: Vec<ToolCall>,
        /// Usage of the generation.
        usage: Usage,
    },
    /// Tool results are in.
    ResolveToolResults {
        /// The results.
        tool_results: Vec<ToolResult>,
    },
    /// The model called `attemptCompletion`.
    AttemptCompletion {
        /// The tool's result.
        tool_result: ToolResult,
    },
    /// One tool call finished.
    FinishToolCall {
        /// Messages added.
        new_messages: Vec<MessageRef>,
    },
    /// Pending tool calls resume.
    ResumeToolCalls {
        /// Calls still to run.
        pending_tool_calls: Vec<ToolCall>,
        /// Results already collected.
        partial_tool_results: Vec<ToolResult>,
    },
    /// All tool calls of the step finished.
    FinishAllToolCalls {
        /// Messages added.
        new_messages: Vec<MessageRef>,
    },
    /// The step ended and the next one begins.
    ContinueToNextStep {
        /// The checkpoint at the end of the step.
        checkpoint: CheckpointRef,
        /// The step.
        step: StepRef,
        /// The checkpoint the next step starts from.
        next_checkpoint: CheckpointRef,
    },
    /// The run stopped for the application to answer an interactive tool.
    StopRunByInteractiveTool {
        /// The resumable checkpoint.
        checkpoint: CheckpointRef,
        /// The step.
        step: StepRef,
    },
    /// The run stopped to wait for delegates.
    StopRunByDelegate {
        /// The resumable checkpoint.
        checkpoint: CheckpointRef,
        /// The step.
        step: StepRef,
    },
    /// The run reached the step limit.
    StopRunByExceededMaxSteps {
        /// The checkpoint.
        checkpoint: CheckpointRef,
        /// The step.
        step: StepRef,
    },
    /// An error stopped the run.
    StopRunByError {
        /// The last good checkpoint.
        checkpoint: CheckpointRef,
        /// The step.
        step: StepRef,
        /// What went wrong.
        error: CheckpointError,
    },
    /// The run finished.
    CompleteRun {
        /// The final checkpoint.
        checkpoint: CheckpointRef,
        /// The last step.
        step: StepRef,
        /// The result text.
        text: String,
        /// Usage of the run.
        usage: Usage,
    },
    /// Ours: a tool call needs approval.
    StopRunByApproval {
        /// The resumable checkpoint.
        checkpoint: CheckpointRef,
        /// The step.
        step: StepRef,
        /// The calls waiting for a decision.
        tool_calls: Vec<ToolCall>,
    },
    /// Ours: a budget ran out.
    StopRunByBudget {
        /// The resumable checkpoint.
        checkpoint: CheckpointRef,
        /// The step.
        step: StepRef,
        /// Which limit, in words.
        reason: String,
        /// Which budget ran out, with its figures.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget: Option<BudgetExceeded>,
    },
    /// Ours: the process was asked to stop.
    StopRunBySignal {
        /// The resumable checkpoint.
        checkpoint: CheckpointRef,
        /// The step.
        step: StepRef,
        /// The signal.
        signal: String,
    },
    /// Reasoning starts streaming.
    StartStreamingReasoning {},
    /// A piece of reasoning.
    StreamReasoning {
        /// The text piece.
        delta: String,
    },
    /// Reasoning finished streaming.
    CompleteStreamingReasoning {
        /// The whole reasoning text.
        text: String,
    },
    /// The run result starts streaming.
    StartStreamingRunResult {},
    /// A piece of the run result.
    StreamRunResult {
        /// The text piece.
        delta: String,
    },
    /// The run result finished streaming.
    CompleteStreamingRunResult {
        /// The whole result text.
        text: String,
    },
}

impl CompactRunPayload {
    /// The `type` this payload serializes with (the same as the full event's).
    pub fn type_name(&self) -> &'static str {
        match self {
            CompactRunPayload::StartRun { .. } => "startRun",
            CompactRunPayload::StartGeneration { .. } => "startGeneration",
            CompactRunPayload::Retry { .. } => "retry",
            CompactRunPayload::CallTools { .. } => "callTools",
            CompactRunPayload::CallInteractiveTool { .. } => "callInteractiveTool",
            CompactRunPayload::CallDelegate { .. } => "callDelegate",
            CompactRunPayload::ResolveToolResults { .. } => "resolveToolResults",
            CompactRunPayload::AttemptCompletion { .. } => "attemptCompletion",
            CompactRunPayload::FinishToolCall { .. } => "finishToolCall",
            CompactRunPayload::ResumeToolCalls { .. } => "resumeToolCalls",
            CompactRunPayload::FinishAllToolCalls { .. } => "finishAllToolCalls",
            CompactRunPayload::ContinueToNextStep { .. } => "continueToNextStep",
            CompactRunPayload::StopRunByInteractiveTool { .. } => "stopRunByInteractiveTool",
            CompactRunPayload::StopRunByDelegate { .. } => "stopRunByDelegate",
            CompactRunPayload::StopRunByExceededMaxSteps { .. } => "stopRunByExceededMaxSteps",
            CompactRunPayload::StopRunByError { .. } => "stopRunByError",
            CompactRunPayload::CompleteRun { .. } => "completeRun",
            CompactRunPayload::StopRunByApproval { .. } => "stopRunByApproval",
            CompactRunPayload::StopRunByBudget { .. } => "stopRunByBudget",
            CompactRunPayload::StopRunBySignal { .. } => "stopRunBySignal",
            CompactRunPayload::StartStreamingReasoning {} => "startStreamingReasoning",
            CompactRunPayload::StreamReasoning { .. } => "streamReasoning",
            CompactRunPayload::CompleteStreamingReasoning { .. } => "completeStreamingReasoning",
            CompactRunPayload::StartStreamingRunResult {} => "startStreamingRunResult",
            CompactRunPayload::StreamRunResult { .. } => "streamRunResult",
            CompactRunPayload::CompleteStreamingRunResult { .. } => "completeStreamingRunResult",
        }
    }
}
