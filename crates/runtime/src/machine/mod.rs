//! The agent loop: Perstack's run state machine.
//!
//! Each state's logic decides the event to emit and applies that event's transition to the
//! context (checkpoint and step), like Perstack's xstate machine does in its `assign`
//! actions; the driver then stores the checkpoint the event carries and emits it.
//!
//! ```text
//! Init ─startRun→ PreparingForStep ─startGeneration→ GeneratingToolCall
//!   PreparingForStep ─resumeToolCalls→ CallingTool | ─finishAllToolCalls→ FinishingStep
//!                    ─stopRunByError→ Stopped (the Expert's skills did not start)
//!   GeneratingToolCall ─callTools→ CallingTool | ─completeRun→ Stopped
//!                      ─retry→ FinishingStep | ─stopRunByError→ Stopped
//!   CallingTool ─resolveToolResults→ ResolvingToolResult ─finishToolCall→ FinishingStep
//!               ─attemptCompletion→ GeneratingRunResult ─completeRun→ Stopped
//!               ─callInteractiveTool→ CallingInteractiveTool ─stopRunByInteractiveTool→ Stopped
//!               ─callDelegate→ CallingDelegate ─stopRunByDelegate→ Stopped
//!               ─completeRun→ Stopped (text came with attemptCompletion)
//!               ─stopRunByApproval→ Stopped (a call needs approval; nothing ran)
//!   FinishingStep ─continueToNextStep→ PreparingForStep
//!                 ─stopRunByExceededMaxSteps / stopRunByBudget→ Stopped
//!   GeneratingToolCall | CallingTool | GeneratingRunResult ─stopRunBySignal→ Stopped
//! ```

mod budget;
mod calling;
mod finish;
mod generate;
mod init;
mod parts;
mod prepare;
mod run_result;
mod tool_call;

use std::collections::HashSet;
use std::sync::Arc;

use perstack_core::{Checkpoint, DelegationTarget, Step, Usage};
use perstack_events::RunEventPayload;
use perstack_providers::{PromptCache, Provider};

use crate::emitter::Emitter;
use crate::error::RuntimeError;
use crate::setting::RunSetting;
use crate::stop::StopSignal;
use crate::tools::{ToolEntry, ToolHost, ToolHostError};

/// States of a run (Perstack's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Init,
    PreparingForStep,
    GeneratingToolCall,
    CallingTool,
    ResolvingToolResult,
    GeneratingRunResult,
    CallingInteractiveTool,
    CallingDelegate,
    FinishingStep,
    Stopped,
}

/// What a state's logic produced: the event and the state it leads to.
pub(crate) type Transition = (RunEventPayload, State);

/// Everything a run's states work on.
#[derive(Debug)]
pub(crate) struct Machine {
    pub(crate) setting: RunSetting,
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) host: Arc<dyn ToolHost>,
    pub(crate) tools: Vec<ToolEntry>,
    pub(crate) emitter: Emitter,
    pub(crate) checkpoint: Checkpoint,
    pub(crate) step: Step,
    /// Delegations decided in `CallingTool`, stopped on in `CallingDelegate`.
    pub(crate) delegations: Vec<DelegationTarget>,
    /// The result text once the run completed.
    pub(crate) result_text: Option<String>,
    /// Fires to stop the run (signals).
    pub(crate) stop: StopSignal,
    /// Calls the operator approved on resume: they run without stopping again.
    pub(crate) approved: HashSet<String>,
    /// Steps of this run that ended in a retry: they do not count toward `max_steps`.
    pub(crate) retried_steps: u32,
    /// Why the Expert's skills did not start: the run stops by error after `startRun`.
    pub(crate) unstarted: Option<ToolHostError>,
    /// The conversation as the provider has encoded it: each request sends only what is new.
    pub(crate) prompt: PromptCache,
}

impl Machine {
    pub(crate) fn new(
        setting: RunSetting,
        provider: Arc<dyn Provider>,
        host: Arc<dyn ToolHost>,
        tools: Vec<ToolEntry>,
        emitter: Emitter,
        checkpoint: Checkpoint,
        stop: StopSignal,
    ) -> Self {
        let step = Step {
            step_number: checkpoint.step_number,
            input_messages: Some(Vec::new()),
            new_messages: Vec::new(),
            tool_calls: None,
            tool_results: None,
            pending_tool_calls: None,
            partial_tool_results: None,
            usage: Usage::default(),
            started_at: perstack_core::now_ms(),
            finished_at: None,
        };
        Machine {
            setting,
            provider,
            host,
            tools,
            emitter,
            checkpoint,
            step,
            delegations: Vec::new(),
            result_text: None,
            stop,
            approved: HashSet::new(),
            retried_steps: 0,
            unstarted: None,
            prompt: PromptCache::new(),
        }
    }

    /// Runs the machine until it stops; the final checkpoint is `self.checkpoint`.
    pub(crate) async fn drive(&mut self) -> Result<(), RuntimeError> {
        let mut state = State::Init;
        loop {
            // Events are stamped with the step the run is at when the state's logic runs.
            let step_number = self.checkpoint.step_number;
            let (payload, next) = match state {
                State::Init => init::init(self)?,
                State::PreparingForStep => prepare::preparing_for_step(self),
                State::GeneratingToolCall => tool_call::generating_tool_call(self).await?,
                State::CallingTool => calling::calling_tool(self).await,
                State::ResolvingToolResult => calling::resolving_tool_result(self),
                State::GeneratingRunResult => run_result::generating_run_result(self).await?,
                State::CallingInteractiveTool => finish::calling_interactive_tool(self),
                State::CallingDelegate => finish::calling_delegate(self),
                State::FinishingStep => finish::finishing_step(self),
                State::Stopped => return Ok(()),
            };
            tracing::debug!(
                event = payload.type_name(),
                ?next,
                step_number,
                "transition"
            );
            // Conversations travel apart from the payload (see the emitter).
            let conversation = Some(self.checkpoint.messages.as_slice());
            self.emitter
                .emit_in(step_number, payload, conversation)
                .await?;
            state = next;
        }
    }
}
