//! `GeneratingToolCall`: ask the model for the next tool calls.

use perstack_core::{CheckpointError, ExpertPart, Message, ToolCall};
use perstack_events::RunEventPayload;

use super::generate::{GenFailure, Streaming, generate};
use super::parts::{complete, retry, retry_or_stop, stop_by_error, stop_by_signal};
use super::prepare::stop_unstarted;
use super::{Machine, State, Transition};
use crate::error::RuntimeError;
use crate::tools::ToolKind;

/// What the model is told when it replied with nothing.
const EMPTY_REPLY_NUDGE: &str = "You must call a tool or reply with text. Try again.";

pub(super) async fn generating_tool_call(m: &mut Machine) -> Result<Transition, RuntimeError> {
    let retries = m.checkpoint.retry_count.unwrap_or(0);
    if retries > 0 {
        let stop = m.stop.clone();
        tokio::select! {
            biased;
            name = stop.wait() => return Ok(stop_by_signal(m, name, Vec::new(), Vec::new())),
            () = tokio::time::sleep(m.setting.backoff(retries)) => {}
        }
    }
    // Skills that start in the background (lazyInit, locked) join the catalogue when ready;
    // one that failed stops the run as a skill failing at once does.
    match m.host.tools().await {
        Ok(fresh) => m.tools = fresh,
        Err(failure) => return Ok(stop_unstarted(m, failure)),
    }
    let tools = m.tools.iter().map(|t| t.definition.clone()).collect();
    // Only what the prompt cache has not seen: the provider keeps the rest, encoded.
    let messages = m.prompt.unseen(&m.checkpoint.messages);
    let generation = match generate(m, messages, tools, Streaming::Reasoning).await? {
        Ok(g) => g,
        Err(GenFailure::Error(e)) => return Ok(retry_or_stop(m, e, Vec::new())),
        Err(GenFailure::Stopped(name)) => {
            return Ok(stop_by_signal(m, name, Vec::new(), Vec::new()));
        }
    };
    let usage = generation.usage;
    let text = generation.text();
    let calls = generation.tool_calls();
    if calls.is_empty() {
        if !text.is_empty() {
            // A reply without tool calls is the result.
            let message = generation.to_message();
            return Ok(complete(m, vec![message], text, usage));
        }
        if retries >= m.setting.max_retries {
            let error = CheckpointError {
                name: "MaxRetriesExceeded".into(),
                message: format!(
                    "Max retries ({}) exceeded: no tool call or text generated",
                    m.setting.max_retries
                ),
                status_code: None,
                is_retryable: false,
            };
            return Ok(stop_by_error(m, error, Vec::new()));
        }
        let reason = serde_json::json!({
            "error": "Error: No tool call or text generated",
            "message": EMPTY_REPLY_NUDGE,
        })
        .to_string();
        let nudge = Message::user_text(reason.clone());
        return Ok(retry(m, reason, vec![nudge], usage, None));
    }
    let mut tool_calls: Vec<ToolCall> = calls
        .iter()
        .map(|c| ToolCall {
            id: c.tool_call_id.clone(),
            skill_name: m
                .tools
                .iter()
                .find(|t| t.definition.name == c.tool_name)
                .map(|t| t.definition.skill_name.clone())
                .unwrap_or_default(),
            tool_name: c.tool_name.clone(),
            args: c.args.as_object().cloned().unwrap_or_default(),
        })
        .collect();
    // Perstack's order of handling: MCP tools, then delegates, then interactive tools.
    tool_calls.sort_by_key(|c| priority(m, c));
    let parts: Vec<ExpertPart> = generation.parts.clone();
    let new_message = Message::expert(parts);
    let cp = &mut m.checkpoint;
    cp.messages.push(new_message.clone());
    cp.usage += usage;
    cp.retry_count = None;
    m.step.new_messages = vec![new_message.clone()];
    m.step.tool_calls = Some(tool_calls.clone());
    m.step.usage += usage;
    let payload = RunEventPayload::CallTools {
        new_message,
        tool_calls,
        usage,
    };
    Ok((payload, State::CallingTool))
}

fn priority(m: &Machine, call: &ToolCall) -> u8 {
    match m
        .tools
        .iter()
        .find(|t| t.definition.name == call.tool_name)
        .map(|t| &t.kind)
    {
        Some(ToolKind::Mcp) | None => 0,
        Some(ToolKind::Delegate { .. }) => 1,
        Some(ToolKind::Interactive) => 2,
    }
}
