//! Building messages, results and events shared by several states.

use perstack_core::config::BASE_SKILL_NAME;
use perstack_core::{
    CheckpointError, ExpertPart, Message, MessagePart, TextPart, ToolCall, ToolResult,
    ToolResultContent, ToolResultPart, Usage, id::new_id,
};
use perstack_events::{BudgetExceeded, RunEventPayload};
use perstack_providers::ProviderError;
use serde_json::Value;

use super::{Machine, State, Transition};
use crate::emitter::finished;
use crate::stop::StopCause;

/// True for the base skill's `attemptCompletion`.
pub(super) fn is_attempt_completion(call: &ToolCall) -> bool {
    call.skill_name == BASE_SKILL_NAME && call.tool_name == "attemptCompletion"
}

/// A tool message answering `results`, names taken from the matching `calls`.
pub(super) fn tool_message(results: &[ToolResult], calls: Option<&[ToolCall]>) -> Message {
    let parts = results
        .iter()
        .map(|r| {
            let tool_name = calls
                .and_then(|cs| cs.iter().find(|c| c.id == r.id))
                .map_or_else(|| r.tool_name.clone(), |c| c.tool_name.clone());
            ToolResultPart {
                id: new_id(),
                tool_call_id: r.id.clone(),
                tool_name,
                contents: r.result.iter().filter_map(result_content).collect(),
                is_error: r.is_error,
            }
        })
        .collect();
    Message::tool(parts)
}

/// The parts of a tool result a tool message can carry (text, inline images and files).
fn result_content(part: &MessagePart) -> Option<ToolResultContent> {
    match part {
        MessagePart::Text(t) => Some(ToolResultContent::Text(t.clone())),
        MessagePart::ImageInline(i) => Some(ToolResultContent::Image(i.clone())),
        MessagePart::FileInline(f) => Some(ToolResultContent::File(f.clone())),
        MessagePart::ImageUrl(_)
        | MessagePart::ImageBinary(_)
        | MessagePart::FileUrl(_)
        | MessagePart::FileBinary(_)
        | MessagePart::ToolCall(_)
        | MessagePart::ToolResult(_)
        | MessagePart::Thinking(_) => None,
    }
}

/// An error result holding one text (a call answered without running anything).
pub(super) fn text_result(call: &ToolCall, text: impl Into<String>) -> ToolResult {
    ToolResult {
        id: call.id.clone(),
        skill_name: call.skill_name.clone(),
        tool_name: call.tool_name.clone(),
        result: vec![MessagePart::Text(TextPart::new(text))],
        is_error: Some(true),
    }
}

/// `attemptCompletion` answered with open todos (`{"remainingTodos": [..non-empty..]}`).
pub(super) fn has_remaining_todos(result: &ToolResult) -> bool {
    let Some(MessagePart::Text(first)) = result.result.first() else {
        return false;
    };
    serde_json::from_str::<Value>(&first.text)
        .ok()
        .and_then(|v| v.get("remainingTodos").and_then(Value::as_array).cloned())
        .is_some_and(|todos| !todos.is_empty())
}

/// The non-blank text of the last message when it is the model's.
pub(super) fn last_expert_text(messages: &[Message]) -> Option<String> {
    let Some(Message::ExpertMessage { contents, .. }) = messages.last() else {
        return None;
    };
    contents.iter().find_map(|p| match p {
        ExpertPart::Text(t) if !t.text.trim().is_empty() => Some(t.text.trim().to_string()),
        ExpertPart::Text(_) | ExpertPart::ToolCall(_) | ExpertPart::Thinking(_) => None,
    })
}

/// A failed generation, in the shape checkpoints and events report it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct GenError {
    pub(super) name: String,
    pub(super) message: String,
    pub(super) status_code: Option<u16>,
    pub(super) retryable: bool,
    /// Transparent retries the provider spent on this generation (one budget with ours).
    pub(super) provider_retries: u32,
}

impl From<ProviderError> for GenError {
    fn from(e: ProviderError) -> Self {
        GenError {
            name: e.kind_name().to_string(),
            message: e.to_string(),
            status_code: e.status(),
            retryable: e.is_retryable(),
            provider_retries: 0,
        }
    }
}

/// After a failed generation: retry (the reason goes to the model as a user message, after
/// `prefix`), or stop with an error once retries are used up or the error is permanent.
pub(super) fn retry_or_stop(m: &mut Machine, error: GenError, prefix: Vec<Message>) -> Transition {
    // One budget for the whole request: the provider's retries and ours.
    let retries = m
        .checkpoint
        .retry_count
        .unwrap_or(0)
        .saturating_add(error.provider_retries);
    let max = m.setting.max_retries;
    if !error.retryable || retries >= max {
        let message = if retries >= max && error.retryable {
            format!(
                "{} (gave up after {retries} retries: maxRetries is {max}; raise it in \
                 perstack.toml or try again later)",
                error.message
            )
        } else {
            error.message.clone()
        };
        let error = CheckpointError {
            name: error.name,
            message,
            status_code: error.status_code,
            is_retryable: false,
        };
        return stop_by_error(m, error, prefix);
    }
    let reason = serde_json::json!({"error": error.name, "message": error.message}).to_string();
    let mut new_messages = prefix;
    new_messages.push(Message::user_text(reason.clone()));
    m.checkpoint.retry_count = Some(retries);
    retry(m, reason, new_messages, Usage::default(), None)
}

/// The `retry` transition: the messages join the conversation, the step ends.
pub(super) fn retry(
    m: &mut Machine,
    reason: String,
    new_messages: Vec<Message>,
    usage: Usage,
    tool_calls: Option<(Vec<ToolCall>, Vec<ToolResult>)>,
) -> Transition {
    let cp = &mut m.checkpoint;
    cp.messages.extend(new_messages.iter().cloned());
    cp.usage += usage;
    cp.retry_count = Some(cp.retry_count.unwrap_or(0) + 1);
    m.retried_steps = m.retried_steps.saturating_add(1);
    let (calls, results) = tool_calls.unzip();
    m.step.new_messages = new_messages.clone();
    m.step.tool_calls = calls.clone();
    m.step.tool_results = results.clone();
    m.step.usage += usage;
    let payload = RunEventPayload::Retry {
        reason,
        new_messages,
        tool_calls: calls,
        tool_results: results,
        usage,
    };
    (payload, State::FinishingStep)
}

/// The `stopRunByError` transition. `extra` messages (a tool message the failed generation
/// was answering) are kept so that the checkpoint can be resumed with a new query.
pub(super) fn stop_by_error(
    m: &mut Machine,
    error: CheckpointError,
    extra: Vec<Message>,
) -> Transition {
    let cp = &mut m.checkpoint;
    cp.messages.extend(extra);
    cp.status = perstack_core::CheckpointStatus::StoppedByError;
    cp.error = Some(error.clone());
    m.step = finished(&m.step);
    let payload = RunEventPayload::StopRunByError {
        checkpoint: cp.without_messages(),
        step: m.step.clone(),
        error,
    };
    (payload, State::Stopped)
}

/// The `stopRunBySignal` transition (`stopRunByBudget` for the wall-clock limit): `pending`
/// calls run again on resume, `partial` results are kept.
pub(super) fn stop_by_signal(
    m: &mut Machine,
    cause: StopCause,
    pending: Vec<ToolCall>,
    partial: Vec<ToolResult>,
) -> Transition {
    let cp = &mut m.checkpoint;
    cp.pending_tool_calls = (!pending.is_empty()).then_some(pending);
    cp.partial_tool_results = (!partial.is_empty()).then_some(partial);
    m.step = finished(&m.step);
    let payload = match cause {
        StopCause::Signal(signal) => {
            cp.status = perstack_core::CheckpointStatus::StoppedBySignal;
            RunEventPayload::StopRunBySignal {
                checkpoint: cp.without_messages(),
                step: m.step.clone(),
                signal,
            }
        }
        StopCause::WallClock(limit) => {
            cp.status = perstack_core::CheckpointStatus::StoppedByBudget;
            RunEventPayload::StopRunByBudget {
                checkpoint: cp.without_messages(),
                step: m.step.clone(),
                reason: format!("maxDuration {} ms reached", limit.as_millis()),
                budget: Some(BudgetExceeded::Duration {
                    limit: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                }),
            }
        }
    };
    (payload, State::Stopped)
}

/// The `completeRun` transition: `new_messages` end the conversation, `text` is the result.
pub(super) fn complete(
    m: &mut Machine,
    new_messages: Vec<Message>,
    text: String,
    usage: Usage,
) -> Transition {
    let cp = &mut m.checkpoint;
    cp.messages.extend(new_messages.iter().cloned());
    cp.usage += usage;
    cp.status = perstack_core::CheckpointStatus::Completed;
    cp.retry_count = None;
    m.step.new_messages.extend(new_messages);
    m.step.usage += usage;
    m.step = finished(&m.step);
    m.result_text = Some(text.clone());
    let payload = RunEventPayload::CompleteRun {
        checkpoint: cp.without_messages(),
        step: m.step.clone(),
        text,
        usage,
    };
    (payload, State::Stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(text: &str) -> ToolResult {
        ToolResult {
            id: "c".into(),
            skill_name: BASE_SKILL_NAME.into(),
            tool_name: "attemptCompletion".into(),
            result: vec![MessagePart::Text(TextPart::new(text))],
            is_error: None,
        }
    }

    #[test]
    fn remaining_todos_need_a_non_empty_list() {
        assert!(has_remaining_todos(&result(
            r#"{"remainingTodos":[{"id":1,"title":"b","completed":false}]}"#
        )));
        assert!(!has_remaining_todos(&result(r#"{"remainingTodos":[]}"#)));
        assert!(!has_remaining_todos(&result("{}")));
        assert!(!has_remaining_todos(&result("done")));
    }

    #[test]
    fn last_expert_text_ignores_blank_text_and_other_messages() {
        let blank = Message::expert(vec![ExpertPart::Text(TextPart::new("  "))]);
        assert_eq!(last_expert_text(std::slice::from_ref(&blank)), None);
        let said = Message::expert(vec![ExpertPart::Text(TextPart::new(" done "))]);
        assert_eq!(last_expert_text(&[blank, said]), Some("done".into()));
        assert_eq!(last_expert_text(&[Message::user_text("hi")]), None);
    }
}
