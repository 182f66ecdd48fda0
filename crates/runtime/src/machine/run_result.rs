//! `GeneratingRunResult`: after `attemptCompletion`, the final reply, streamed as the result.

use perstack_core::{ExpertPart, TextPart};

use super::generate::{GenFailure, Streaming, generate};
use super::parts::{complete, is_attempt_completion, retry_or_stop, stop_by_signal, tool_message};
use super::{Machine, Transition};
use crate::error::RuntimeError;

pub(super) async fn generating_run_result(m: &mut Machine) -> Result<Transition, RuntimeError> {
    let results = m.step.tool_results.clone().unwrap_or_default();
    let tools = tool_message(&results, m.step.tool_calls.as_deref());
    let mut messages = m.prompt.unseen(&m.checkpoint.messages);
    messages.push(tools.clone());
    let generation = match generate(m, messages, Vec::new(), Streaming::ReasoningAndResult).await? {
        Ok(g) => g,
        // The tool message stays in the conversation so that it remains well formed.
        Err(GenFailure::Error(e)) => return Ok(retry_or_stop(m, e, vec![tools])),
        // Resuming runs attemptCompletion again, which leads back here.
        Err(GenFailure::Stopped(name)) => {
            let calls = m.step.tool_calls.clone().unwrap_or_default();
            let pending: Vec<_> = calls.into_iter().filter(is_attempt_completion).collect();
            let done: Vec<_> = results
                .into_iter()
                .filter(|r| !pending.iter().any(|c| c.id == r.id))
                .collect();
            return Ok(stop_by_signal(m, name, pending, done));
        }
    };
    let text = generation.text();
    // No tools were offered; anything but reasoning and text is dropped. A text part is
    // always present: a delegating parent reads its result from it.
    let mut parts: Vec<ExpertPart> = generation
        .parts
        .into_iter()
        .filter(|p| matches!(p, ExpertPart::Thinking(_)))
        .collect();
    parts.push(ExpertPart::Text(TextPart::new(text.clone())));
    let answer = perstack_core::Message::expert(parts);
    Ok(complete(m, vec![tools, answer], text, generation.usage))
}
