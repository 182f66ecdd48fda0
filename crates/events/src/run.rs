//! Run events: the Expert's state machine transitions and streaming output.

use perstack_core::{Checkpoint, CheckpointError, Message, Step, ToolCall, ToolResult, Usage};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The budget that stopped a run (`stopRunByBudget.budget`), tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum BudgetExceeded {
    /// `maxTotalTokens`: tokens used by the job, delegates included.
    Tokens {
        /// The limit, in tokens.
        limit: u64,
        /// Tokens used when the run stopped.
        used: u64,
    },
    /// `maxTotalCost`: the job's estimated cost from the model's price, delegates included.
    Cost {
        /// The limit, in USD.
        limit: f64,
        /// Estimated USD spent when the run stopped.
        used: f64,
        /// The model whose price was applied.
        model: String,
    },
    /// `maxDuration`: wall-clock time of the execution.
    Duration {
        /// The limit, in milliseconds; the execution ran this long.
        limit: u64,
    },
}

/// Who emitted a run event and when in the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEventMeta {
    /// The job.
    pub job_id: String,
    /// The run.
    pub run_id: String,
    /// The Expert.
    pub expert_key: String,
    /// The step the run is at.
    pub step_number: u32,
}

/// A run event: the common envelope plus a typed payload (Perstack's `RunEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
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
    /// `type` and the type's fields.
    #[serde(flatten)]
    pub payload: RunEventPayload,
}

impl RunEvent {
    /// A new event with a fresh id and the current time.
    pub fn new(meta: &RunEventMeta, payload: RunEventPayload) -> Self {
        RunEvent {
            id: perstack_core::id::new_id(),
            timestamp: perstack_core::now_ms(),
            job_id: meta.job_id.clone(),
            run_id: meta.run_id.clone(),
            expert_key: meta.expert_key.clone(),
            step_number: meta.step_number,
            payload,
        }
    }
}

/// The payload of a run event, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[allow(clippy::large_enum_variant)] // built once, moved to a sink: boxing would only add noise
pub enum RunEventPayload {
    /// The run started.
    StartRun {
        /// The checkpoint the run starts from.
        initial_checkpoint: Checkpoint,
        /// Messages added before the first generation.
        input_messages: Vec<Message>,
    },
    /// A generation request is about to be sent.
    StartGeneration {
        /// The full conversation sent.
        messages: Vec<Message>,
    },
    /// A generation failed and is retried.
    Retry {
        /// Why.
        reason: String,
        /// Messages added for the retry (e.g. a nudge).
        new_messages: Vec<Message>,
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
        new_message: Message,
        /// The calls.
        tool_calls: Vec<ToolCall>,
        /// Usage of the generation.
        usage: Usage,
    },
    /// The model called an interactive tool.
    CallInteractiveTool {
        /// The model's message.
        new_message: Message,
        /// The call.
        tool_call: ToolCall,
        /// Usage of the generation.
        usage: Usage,
    },
    /// The model delegated to other Experts.
    CallDelegate {
        /// The model's message.
        new_message: Message,
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
        /// The tool's result (remaining todos, if any).
        tool_result: ToolResult,
    },
    /// One tool call finished.
    FinishToolCall {
        /// Messages added.
        new_messages: Vec<Message>,
    },
    /// Pending tool calls resume (after a delegate, interactive tool or approval).
    ResumeToolCalls {
        /// Calls still to run.
        pending_tool_calls: Vec<ToolCall>,
        /// Results already collected.
        partial_tool_results: Vec<ToolResult>,
    },
    /// All tool calls of the step finished.
    FinishAllToolCalls {
        /// Messages added.
        new_messages: Vec<Message>,
    },
    /// The step ended and the next one begins.
    ContinueToNextStep {
        /// The checkpoint at the end of the step.
        checkpoint: Checkpoint,
        /// The step.
        step: Step,
        /// The checkpoint the next step starts from.
        next_checkpoint: Checkpoint,
    },
    /// The run stopped for the application to answer an interactive tool.
    StopRunByInteractiveTool {
        /// The resumable checkpoint.
        checkpoint: Checkpoint,
        /// The step.
        step: Step,
    },
    /// The run stopped to wait for delegates.
    StopRunByDelegate {
        /// The resumable checkpoint.
        checkpoint: Checkpoint,
        /// The step.
        step: Step,
    },
    /// The run reached the step limit.
    StopRunByExceededMaxSteps {
        /// The checkpoint.
        checkpoint: Checkpoint,
        /// The step.
        step: Step,
    },
    /// An error stopped the run.
    StopRunByError {
        /// The last good checkpoint.
        checkpoint: Checkpoint,
        /// The step.
        step: Step,
        /// What went wrong.
        error: CheckpointError,
    },
    /// The run finished.
    CompleteRun {
        /// The final checkpoint.
        checkpoint: Checkpoint,
        /// The last step.
        step: Step,
        /// The result text.
        text: String,
        /// Usage of the run.
        usage: Usage,
    },
    /// Ours: a tool call needs approval; the run stopped before calling it.
    StopRunByApproval {
        /// The resumable checkpoint.
        checkpoint: Checkpoint,
        /// The step.
        step: Step,
        /// The calls waiting for a decision.
        tool_calls: Vec<ToolCall>,
    },
    /// Ours: a token, cost or wall-clock budget ran out.
    StopRunByBudget {
        /// The resumable checkpoint.
        checkpoint: Checkpoint,
        /// The step.
        step: Step,
        /// Which limit, in words (e.g. "maxTotalTokens 100000 reached: 100512 tokens used").
        reason: String,
        /// Which budget ran out, with its figures (absent in logs written before it existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget: Option<BudgetExceeded>,
    },
    /// Ours: the process was asked to stop.
    StopRunBySignal {
        /// The resumable checkpoint.
        checkpoint: Checkpoint,
        /// The step.
        step: Step,
        /// The signal, e.g. "SIGTERM".
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

impl RunEventPayload {
    /// Every run event `type`, in declaration order.
    pub const TYPES: [&'static str; 26] = [
        "startRun",
        "startGeneration",
        "retry",
        "callTools",
        "callInteractiveTool",
        "callDelegate",
        "resolveToolResults",
        "attemptCompletion",
        "finishToolCall",
        "resumeToolCalls",
        "finishAllToolCalls",
        "continueToNextStep",
        "stopRunByInteractiveTool",
        "stopRunByDelegate",
        "stopRunByExceededMaxSteps",
        "stopRunByError",
        "completeRun",
        "stopRunByApproval",
        "stopRunByBudget",
        "stopRunBySignal",
        "startStreamingReasoning",
        "streamReasoning",
        "completeStreamingReasoning",
        "startStreamingRunResult",
        "streamRunResult",
        "completeStreamingRunResult",
    ];

    /// The `type` this payload serializes with.
    pub fn type_name(&self) -> &'static str {
        match self {
            RunEventPayload::StartRun { .. } => "startRun",
            RunEventPayload::StartGeneration { .. } => "startGeneration",
            RunEventPayload::Retry { .. } => "retry",
            RunEventPayload::CallTools { .. } => "callTools",
            RunEventPayload::CallInteractiveTool { .. } => "callInteractiveTool",
            RunEventPayload::CallDelegate { .. } => "callDelegate",
            RunEventPayload::ResolveToolResults { .. } => "resolveToolResults",
            RunEventPayload::AttemptCompletion { .. } => "attemptCompletion",
            RunEventPayload::FinishToolCall { .. } => "finishToolCall",
            RunEventPayload::ResumeToolCalls { .. } => "resumeToolCalls",
            RunEventPayload::FinishAllToolCalls { .. } => "finishAllToolCalls",
            RunEventPayload::ContinueToNextStep { .. } => "continueToNextStep",
            RunEventPayload::StopRunByInteractiveTool { .. } => "stopRunByInteractiveTool",
            RunEventPayload::StopRunByDelegate { .. } => "stopRunByDelegate",
            RunEventPayload::StopRunByExceededMaxSteps { .. } => "stopRunByExceededMaxSteps",
            RunEventPayload::StopRunByError { .. } => "stopRunByError",
            RunEventPayload::CompleteRun { .. } => "completeRun",
            RunEventPayload::StopRunByApproval { .. } => "stopRunByApproval",
            RunEventPayload::StopRunByBudget { .. } => "stopRunByBudget",
            RunEventPayload::StopRunBySignal { .. } => "stopRunBySignal",
            RunEventPayload::StartStreamingReasoning {} => "startStreamingReasoning",
            RunEventPayload::StreamReasoning { .. } => "streamReasoning",
            RunEventPayload::CompleteStreamingReasoning { .. } => "completeStreamingReasoning",
            RunEventPayload::StartStreamingRunResult {} => "startStreamingRunResult",
            RunEventPayload::StreamRunResult { .. } => "streamRunResult",
            RunEventPayload::CompleteStreamingRunResult { .. } => "completeStreamingRunResult",
        }
    }

    /// The checkpoint this event carries, if it carries one (stop, continue and complete
    /// events). Storage must persist it before the event is emitted.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        match self {
            RunEventPayload::StartRun {
                initial_checkpoint, ..
            } => Some(initial_checkpoint),
            RunEventPayload::ContinueToNextStep {
                next_checkpoint, ..
            } => Some(next_checkpoint),
            RunEventPayload::StopRunByInteractiveTool { checkpoint, .. }
            | RunEventPayload::StopRunByDelegate { checkpoint, .. }
            | RunEventPayload::StopRunByExceededMaxSteps { checkpoint, .. }
            | RunEventPayload::StopRunByError { checkpoint, .. }
            | RunEventPayload::CompleteRun { checkpoint, .. }
            | RunEventPayload::StopRunByApproval { checkpoint, .. }
            | RunEventPayload::StopRunByBudget { checkpoint, .. }
            | RunEventPayload::StopRunBySignal { checkpoint, .. } => Some(checkpoint),
            RunEventPayload::StartGeneration { .. }
            | RunEventPayload::Retry { .. }
            | RunEventPayload::CallTools { .. }
            | RunEventPayload::CallInteractiveTool { .. }
            | RunEventPayload::CallDelegate { .. }
            | RunEventPayload::ResolveToolResults { .. }
            | RunEventPayload::AttemptCompletion { .. }
            | RunEventPayload::FinishToolCall { .. }
            | RunEventPayload::ResumeToolCalls { .. }
            | RunEventPayload::FinishAllToolCalls { .. }
            | RunEventPayload::StartStreamingReasoning {}
            | RunEventPayload::StreamReasoning { .. }
            | RunEventPayload::CompleteStreamingReasoning { .. }
            | RunEventPayload::StartStreamingRunResult {}
            | RunEventPayload::StreamRunResult { .. }
            | RunEventPayload::CompleteStreamingRunResult { .. } => None,
        }
    }

    /// The conversations this payload carries, in field order: `startGeneration.messages`
    /// and the `messages` of every checkpoint it holds.
    pub fn conversations_mut(&mut self) -> Vec<&mut Vec<Message>> {
        match self {
            RunEventPayload::StartRun {
                initial_checkpoint, ..
            } => vec![&mut initial_checkpoint.messages],
            RunEventPayload::StartGeneration { messages } => vec![messages],
            RunEventPayload::ContinueToNextStep {
                checkpoint,
                next_checkpoint,
                ..
            } => vec![&mut checkpoint.messages, &mut next_checkpoint.messages],
            RunEventPayload::StopRunByInteractiveTool { checkpoint, .. }
            | RunEventPayload::StopRunByDelegate { checkpoint, .. }
            | RunEventPayload::StopRunByExceededMaxSteps { checkpoint, .. }
            | RunEventPayload::StopRunByError { checkpoint, .. }
            | RunEventPayload::CompleteRun { checkpoint, .. }
            | RunEventPayload::StopRunByApproval { checkpoint, .. }
            | RunEventPayload::StopRunByBudget { checkpoint, .. }
            | RunEventPayload::StopRunBySignal { checkpoint, .. } => vec![&mut checkpoint.messages],
            RunEventPayload::Retry { .. }
            | RunEventPayload::CallTools { .. }
            | RunEventPayload::CallInteractiveTool { .. }
            | RunEventPayload::CallDelegate { .. }
            | RunEventPayload::ResolveToolResults { .. }
            | RunEventPayload::AttemptCompletion { .. }
            | RunEventPayload::FinishToolCall { .. }
            | RunEventPayload::ResumeToolCalls { .. }
            | RunEventPayload::FinishAllToolCalls { .. }
            | RunEventPayload::StartStreamingReasoning {}
            | RunEventPayload::StreamReasoning { .. }
            | RunEventPayload::CompleteStreamingReasoning { .. }
            | RunEventPayload::StartStreamingRunResult {}
            | RunEventPayload::StreamRunResult { .. }
            | RunEventPayload::CompleteStreamingRunResult { .. } => Vec::new(),
        }
    }

    /// True for the streaming display events (not state transitions).
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            RunEventPayload::StartStreamingReasoning {}
                | RunEventPayload::StreamReasoning { .. }
                | RunEventPayload::CompleteStreamingReasoning { .. }
                | RunEventPayload::StartStreamingRunResult {}
                | RunEventPayload::StreamRunResult { .. }
                | RunEventPayload::CompleteStreamingRunResult { .. }
        )
    }
}
