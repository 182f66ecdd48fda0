//! `Init`: the messages a run starts with, depending on the checkpoint it starts from.

use perstack_core::elicitation::{AnsweredElicitation, ElicitationReply, ElicitationState};
use perstack_core::{CheckpointStatus, Message, MessagePart, TextPart, ToolResult};
use perstack_events::RunEventPayload;

use super::{Machine, State, Transition};
use crate::approval;
use crate::error::RuntimeError;
use crate::prompt::instruction_message;

pub(super) fn init(m: &mut Machine) -> Result<Transition, RuntimeError> {
    let input = &m.setting.input;
    if !input.decisions.is_empty() && m.checkpoint.status != CheckpointStatus::StoppedByApproval {
        return Err(RuntimeError::InvalidInput(format!(
            "approve/deny decisions need a checkpoint stopped for approval; this one is {:?}",
            m.checkpoint.status
        )));
    }
    let input_messages = match m.checkpoint.status {
        CheckpointStatus::Init => {
            let text = input
                .text
                .as_deref()
                .ok_or_else(|| RuntimeError::InvalidInput("a fresh run needs a query".into()))?;
            let expert = m
                .setting
                .experts
                .get(&m.setting.expert_key)
                .ok_or_else(|| RuntimeError::UnknownExpert(m.setting.expert_key.clone()))?;
            vec![
                instruction_message(
                    &m.setting.expert_key,
                    expert,
                    &m.setting.experts,
                    m.setting.started_at,
                ),
                Message::user_text(text),
            ]
        }
        CheckpointStatus::StoppedByInteractiveTool | CheckpointStatus::StoppedByDelegate => {
            let answer = input.interactive_tool_call_result.as_ref().ok_or_else(|| {
                RuntimeError::InvalidInput(format!(
                    "the checkpoint is {:?}: resuming needs the tool call result",
                    m.checkpoint.status
                ))
            })?;
            let cp = &mut m.checkpoint;
            if let Some(mut state) = ElicitationState::of(cp)
                .filter(|s| s.tool_call_id == answer.tool_call_id && s.pending.is_some())
                && let Some(request) = state.pending.take()
            {
                // An answer to a skill's question: the call runs again and the server
                // gets it; the tool's own result goes to the model.
                let reply =
                    ElicitationReply::parse(&answer.text).map_err(RuntimeError::InvalidInput)?;
                state.answered.push(AnsweredElicitation {
                    request,
                    answer: reply,
                });
                state.store(cp);
            } else {
                answer_pending_call(cp, answer)?;
            }
            Vec::new()
        }
        CheckpointStatus::StoppedByApproval => {
            if input.interactive_tool_call_result.is_some() {
                return Err(RuntimeError::InvalidInput(
                    "the run waits for approval decisions, not a tool call result".into(),
                ));
            }
            m.approved =
                approval::apply_decisions(&m.setting, &input.decisions, &mut m.checkpoint)?;
            m.setting
                .input
                .text
                .iter()
                .map(Message::user_text)
                .collect()
        }
        CheckpointStatus::Completed => {
            let text = input.text.as_deref().ok_or_else(|| {
                RuntimeError::InvalidInput("continuing a completed run needs a query".into())
            })?;
            vec![Message::user_text(text)]
        }
        // Ours: a run stopped by a limit, an error or a signal may resume without a query.
        CheckpointStatus::Proceeding
        | CheckpointStatus::StoppedByExceededMaxSteps
        | CheckpointStatus::StoppedByError
        | CheckpointStatus::StoppedByBudget
        | CheckpointStatus::StoppedBySignal => input.text.iter().map(Message::user_text).collect(),
    };
    // The emitter puts the conversation in (without the input messages).
    let initial_checkpoint = m.checkpoint.without_messages();
    m.checkpoint.status = CheckpointStatus::Proceeding;
    m.checkpoint.messages.extend(input_messages.iter().cloned());
    m.step.input_messages = Some(input_messages.clone());
    let payload = RunEventPayload::StartRun {
        initial_checkpoint,
        input_messages,
    };
    Ok((payload, State::PreparingForStep))
}

/// Takes the answered call out of the pending ones (or the delegates waited for) and files
/// the answer as its result.
fn answer_pending_call(
    cp: &mut perstack_core::Checkpoint,
    answer: &crate::setting::InteractiveToolCallResult,
) -> Result<(), RuntimeError> {
    let pending = cp.pending_tool_calls.take().unwrap_or_default();
    let delegated = cp
        .delegate_to
        .iter()
        .flatten()
        .any(|d| d.tool_call_id == answer.tool_call_id);
    if !delegated && !pending.iter().any(|c| c.id == answer.tool_call_id) {
        return Err(RuntimeError::InvalidInput(format!(
            "tool call {} is not pending in this checkpoint",
            answer.tool_call_id
        )));
    }
    let remaining: Vec<_> = pending
        .into_iter()
        .filter(|c| c.id != answer.tool_call_id)
        .collect();
    cp.pending_tool_calls = (!remaining.is_empty()).then_some(remaining);
    if let Some(targets) = &mut cp.delegate_to {
        targets.retain(|d| d.tool_call_id != answer.tool_call_id);
    }
    if cp.delegate_to.as_ref().is_some_and(Vec::is_empty) {
        cp.delegate_to = None;
    }
    cp.partial_tool_results
        .get_or_insert_with(Vec::new)
        .push(ToolResult {
            id: answer.tool_call_id.clone(),
            skill_name: answer.skill_name.clone(),
            tool_name: answer.tool_name.clone(),
            result: vec![MessagePart::Text(TextPart::new(answer.text.clone()))],
            is_error: answer.is_error,
        });
    Ok(())
}
