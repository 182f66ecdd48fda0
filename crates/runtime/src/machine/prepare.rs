//! `PreparingForStep`: resume pending tool calls, hand in collected results, or generate.

use perstack_core::Usage;
use perstack_events::RunEventPayload;

use super::parts::tool_message;
use super::{Machine, State, Transition};

pub(super) fn preparing_for_step(m: &mut Machine) -> Transition {
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
    let payload = RunEventPayload::StartGeneration {
        messages: cp.messages.clone(),
    };
    (payload, State::GeneratingToolCall)
}
