//! `FinishingStep` and the stops for the application: interactive tools and delegation.

use perstack_core::{CheckpointStatus, ToolCall, ToolResult, id::new_id};
use perstack_events::RunEventPayload;

use super::{Machine, State, Transition, budget};
use crate::emitter::finished;

pub(super) fn finishing_step(m: &mut Machine) -> Transition {
    let cp = &mut m.checkpoint;
    m.step = finished(&m.step);
    // Retried steps do not consume the step budget.
    let steps_taken = cp.step_number.saturating_sub(m.retried_steps);
    if m.setting.max_steps.is_some_and(|max| steps_taken >= max) {
        cp.status = CheckpointStatus::StoppedByExceededMaxSteps;
        let payload = RunEventPayload::StopRunByExceededMaxSteps {
            checkpoint: cp.without_messages(),
            step: m.step.clone(),
        };
        return (payload, State::Stopped);
    }
    if let Some((reason, budget)) = budget::exceeded(&m.setting, &cp.usage) {
        cp.status = CheckpointStatus::StoppedByBudget;
        let payload = RunEventPayload::StopRunByBudget {
            checkpoint: cp.without_messages(),
            step: m.step.clone(),
            reason,
            budget: Some(budget),
        };
        return (payload, State::Stopped);
    }
    let checkpoint = cp.without_messages();
    cp.id = new_id();
    cp.step_number += 1;
    let next = cp.without_messages();
    let step = m.step.clone();
    m.step.input_messages = None;
    let payload = RunEventPayload::ContinueToNextStep {
        checkpoint,
        step,
        next_checkpoint: next,
    };
    (payload, State::PreparingForStep)
}

pub(super) fn calling_interactive_tool(m: &mut Machine) -> Transition {
    let cp = &mut m.checkpoint;
    cp.status = CheckpointStatus::StoppedByInteractiveTool;
    cp.pending_tool_calls = m.step.pending_tool_calls.clone();
    cp.partial_tool_results = m.step.partial_tool_results.clone();
    m.step = finished(&m.step);
    let payload = RunEventPayload::StopRunByInteractiveTool {
        checkpoint: cp.without_messages(),
        step: m.step.clone(),
    };
    (payload, State::Stopped)
}

/// The `stopRunByApproval` transition: `awaiting` calls wait for a decision; `pending` (the
/// step's calls not run yet, `awaiting` among them) run on resume, `partial` results are kept.
pub(super) fn stop_by_approval(
    m: &mut Machine,
    awaiting: Vec<ToolCall>,
    pending: Vec<ToolCall>,
    partial: Vec<ToolResult>,
) -> Transition {
    let cp = &mut m.checkpoint;
    cp.status = CheckpointStatus::StoppedByApproval;
    cp.pending_tool_calls = Some(pending.clone());
    cp.partial_tool_results = (!partial.is_empty()).then(|| partial.clone());
    m.step.pending_tool_calls = Some(pending);
    m.step.partial_tool_results = Some(partial);
    m.step = finished(&m.step);
    let payload = RunEventPayload::StopRunByApproval {
        checkpoint: cp.without_messages(),
        step: m.step.clone(),
        tool_calls: awaiting,
    };
    (payload, State::Stopped)
}

pub(super) fn calling_delegate(m: &mut Machine) -> Transition {
    let cp = &mut m.checkpoint;
    let delegated: Vec<&str> = m
        .delegations
        .iter()
        .map(|d| d.tool_call_id.as_str())
        .collect();
    let others: Vec<_> = m
        .step
        .pending_tool_calls
        .iter()
        .flatten()
        .filter(|c| !delegated.contains(&c.id.as_str()))
        .cloned()
        .collect();
    cp.status = CheckpointStatus::StoppedByDelegate;
    cp.delegate_to = Some(m.delegations.clone());
    cp.pending_tool_calls = (!others.is_empty()).then_some(others);
    cp.partial_tool_results = m.step.partial_tool_results.clone();
    m.step = finished(&m.step);
    let payload = RunEventPayload::StopRunByDelegate {
        checkpoint: cp.without_messages(),
        step: m.step.clone(),
    };
    (payload, State::Stopped)
}
