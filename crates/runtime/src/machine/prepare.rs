//! `PreparingForStep`: resume pending tool calls, hand in collected results, or generate
//! (or stop, when the Expert's skills did not start).

use perstack_core::{CheckpointError, Usage};
use perstack_events::RunEventPayload;

use super::parts::{stop_by_error, tool_message};
use super::{Machine, State, Transition};
use crate::tools::ToolHostError;

pub(super) fn preparing_for_step(m: &mut Machine) -> Transition {
    if let Some(failure) = m.unstarted.take() {
        return stop_unstarted(m, failure);
    }
    let cp = &mut m.checkpoint;
    if let Some(pending) = cp.pending_tool_calls.clone().filter(|p| !p.is_empty()) {
        let partial = cp.partial_tool_results.clone().unwrap_or_default();
        m.step.step_number = cp.step_number;
        m.step.tool_results = Some(partial.clone());
        m.step.pending_tool_calls = Some(pending.clone());
        let payload = RunEventPayload::ResumeToolCalls {
            pending_tool_calls: pending,
            partial_tool_results: partial,
        };
        return (payload, State::CallingTool);
    }
    if let Some(partial) = cp.partial_tool_results.take().filter(|p| !p.is_empty()) {
        let message = tool_message(&partial, None);
        cp.messages.push(message.clone());
        cp.pending_tool_calls = None;
        m.step.new_messages.push(message.clone());
        m.step.tool_results = Some(partial);
        m.step.pending_tool_calls = None;
        let payload = RunEventPayload::FinishAllToolCalls {
            new_messages: vec![message],
        };
        return (payload, State::FinishingStep);
    }
    m.step = perstack_core::Step {
        step_number: cp.step_number,
        input_messages: m.step.input_messages.take().or_else(|| Some(Vec::new())),
        new_messages: Vec::new(),
        tool_calls: None,
        tool_results: None,
        pending_tool_calls: None,
        partial_tool_results: None,
        usage: Usage::default(),
        started_at: perstack_core::now_ms(),
        finished_at: None,
    };
    // The emitter puts the conversation in.
    let payload = RunEventPayload::StartGeneration {
        messages: Vec::new(),
    };
    (payload, State::GeneratingToolCall)
}

/// The Expert's skills did not start (at once, or in the background): stop before the next
/// generation, with the query in the checkpoint, so that continuing the job after the fix
/// starts them again and goes on.
pub(super) fn stop_unstarted(m: &mut Machine, failure: ToolHostError) -> Transition {
    let error = CheckpointError {
        name: "SkillStartError".into(),
        message: format!(
            "expert \"{}\": {}. Fix the skill (its command, endpoint or server) and \
             continue this job",
            m.setting.expert_key, failure.message
        ),
        status_code: None,
        is_retryable: false,
    };
    stop_by_error(m, error, Vec::new())
}
