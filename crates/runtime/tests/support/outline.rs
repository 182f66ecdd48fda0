//! A one-line-per-event outline of an event stream, for snapshots a person can review:
//! ids, timestamps and the system prompt are left out; messages are summarised.

// Summaries print rare variants with Debug; listing them all would add nothing.
#![allow(clippy::wildcard_enum_match_arm)]

use perstack_core::{
    Checkpoint, ExpertPart, Message, MessagePart, ToolCall, ToolResult, ToolResultContent, UserPart,
};
use perstack_events::{Event, RunEventPayload, RuntimeEventPayload};

/// The outline of `events`, one line each.
pub fn outline(events: &[Event]) -> String {
    let mut expert_keys: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for e in events {
        let line = match e {
            Event::Run(r) => {
                if !expert_keys.contains(&r.expert_key) {
                    expert_keys.push(r.expert_key.clone());
                }
                format!(
                    "[{} #{}] {}",
                    r.expert_key,
                    r.step_number,
                    run_event(&r.payload)
                )
            }
            Event::Runtime(r) => runtime_event(&r.payload),
            Event::Unknown(v) => format!("unknown {v}"),
        };
        lines.push(line);
    }
    lines.join("\n")
}

/// The outline split by run, runs in order of their first event: `(expert key, lines)`.
pub fn outline_runs(events: &[Event]) -> Vec<(String, String)> {
    let mut runs: Vec<(String, String, Vec<Event>)> = Vec::new();
    for e in events {
        let key = match e {
            Event::Run(r) => Some(r.expert_key.clone()),
            Event::Runtime(_) | Event::Unknown(_) => None,
        };
        match runs.iter_mut().find(|(id, _, _)| id == e.run_id()) {
            Some((_, k, list)) => {
                if k.is_empty() {
                    *k = key.unwrap_or_default();
                }
                list.push(e.clone());
            }
            None => runs.push((
                e.run_id().to_string(),
                key.unwrap_or_default(),
                vec![e.clone()],
            )),
        }
    }
    runs.into_iter()
        .map(|(_, key, list)| (key, outline(&list)))
        .collect()
}

fn runtime_event(p: &RuntimeEventPayload) -> String {
    match p {
        RuntimeEventPayload::InitializeRuntime {
            expert_name,
            query,
            interactive_tool_call,
            ..
        } => format!(
            "initializeRuntime expert={expert_name} query={query:?} toolResult={:?}",
            interactive_tool_call
                .as_ref()
                .map(|i| (&i.tool_call_id, &i.text))
        ),
        other => other.type_name().to_string(),
    }
}

fn run_event(p: &RunEventPayload) -> String {
    let name = p.type_name();
    match p {
        RunEventPayload::StartRun {
            initial_checkpoint,
            input_messages,
        } => format!(
            "{name} from={} input={}",
            checkpoint(initial_checkpoint),
            messages(input_messages)
        ),
        RunEventPayload::StartGeneration { messages: m } => {
            format!("{name} messages={}", messages(m))
        }
        RunEventPayload::Retry {
            reason,
            new_messages,
            usage,
            ..
        } => format!(
            "{name} reason={reason} new={} tokens={}",
            messages(new_messages),
            usage.total_tokens
        ),
        RunEventPayload::CallTools {
            new_message,
            tool_calls,
            usage,
        }
        | RunEventPayload::CallDelegate {
            new_message,
            tool_calls,
            usage,
        } => format!(
            "{name} message={} calls={} tokens={}",
            message(new_message),
            calls(tool_calls),
            usage.total_tokens
        ),
        RunEventPayload::CallInteractiveTool {
            new_message,
            tool_call,
            usage,
        } => format!(
            "{name} message={} call={} tokens={}",
            message(new_message),
            calls(std::slice::from_ref(tool_call)),
            usage.total_tokens
        ),
        RunEventPayload::ResolveToolResults { tool_results } => {
            format!("{name} results={}", results(tool_results))
        }
        RunEventPayload::AttemptCompletion { tool_result } => {
            format!(
                "{name} result={}",
                results(std::slice::from_ref(tool_result))
            )
        }
        RunEventPayload::FinishToolCall { new_messages }
        | RunEventPayload::FinishAllToolCalls { new_messages } => {
            format!("{name} new={}", messages(new_messages))
        }
        RunEventPayload::ResumeToolCalls {
            pending_tool_calls,
            partial_tool_results,
        } => format!(
            "{name} pending={} partial={}",
            calls(pending_tool_calls),
            results(partial_tool_results)
        ),
        RunEventPayload::ContinueToNextStep {
            checkpoint: c,
            next_checkpoint,
            step,
        } => format!(
            "{name} step={} new={} checkpoint={} next={}",
            step.step_number,
            messages(&step.new_messages),
            checkpoint(c),
            checkpoint(next_checkpoint)
        ),
        RunEventPayload::StopRunByApproval {
            checkpoint: c,
            tool_calls,
            ..
        } => format!(
            "{name} awaiting={} checkpoint={}",
            calls(tool_calls),
            checkpoint(c)
        ),
        RunEventPayload::StopRunByInteractiveTool { checkpoint: c, .. }
        | RunEventPayload::StopRunByDelegate { checkpoint: c, .. }
        | RunEventPayload::StopRunByExceededMaxSteps { checkpoint: c, .. }
        | RunEventPayload::StopRunBySignal { checkpoint: c, .. } => {
            format!("{name} checkpoint={}", checkpoint(c))
        }
        RunEventPayload::StopRunByError {
            checkpoint: c,
            error,
            ..
        } => format!(
            "{name} error={}: {} checkpoint={}",
            error.name,
            error.message,
            checkpoint(c)
        ),
        RunEventPayload::StopRunByBudget {
            checkpoint: c,
            reason,
            ..
        } => format!("{name} reason={reason:?} checkpoint={}", checkpoint(c)),
        RunEventPayload::CompleteRun {
            checkpoint: c,
            text,
            usage,
            step,
        } => format!(
            "{name} text={text:?} tokens={} step.new={} checkpoint={}",
            usage.total_tokens,
            messages(&step.new_messages),
            checkpoint(c)
        ),
        RunEventPayload::StreamReasoning { delta } | RunEventPayload::StreamRunResult { delta } => {
            format!("{name} {delta:?}")
        }
        RunEventPayload::CompleteStreamingReasoning { text }
        | RunEventPayload::CompleteStreamingRunResult { text } => format!("{name} {text:?}"),
        RunEventPayload::StartStreamingReasoning {}
        | RunEventPayload::StartStreamingRunResult {} => name.to_string(),
    }
}

/// `{status step=n msgs=m tokens=t pending=[..] partial=[..] delegateTo=[..]}`.
pub fn checkpoint(c: &Checkpoint) -> String {
    let mut s = format!(
        "{{{:?} step={} msgs={} tokens={}",
        c.status,
        c.step_number,
        c.messages.len(),
        c.usage.total_tokens
    );
    if let Some(p) = &c.pending_tool_calls {
        s.push_str(&format!(" pending={}", calls(p)));
    }
    if let Some(p) = &c.partial_tool_results {
        s.push_str(&format!(" partial={}", results(p)));
    }
    if let Some(d) = &c.delegate_to {
        let targets: Vec<String> = d
            .iter()
            .map(|t| format!("{}#{}({:?})", t.expert.key, t.tool_call_id, t.query))
            .collect();
        s.push_str(&format!(" delegateTo=[{}]", targets.join(", ")));
    }
    if let Some(d) = &c.delegated_by {
        s.push_str(&format!(" delegatedBy={}#{}", d.expert.key, d.tool_call_id));
    }
    if let Some(n) = c.retry_count {
        s.push_str(&format!(" retries={n}"));
    }
    s.push('}');
    s
}

fn messages(ms: &[Message]) -> String {
    let parts: Vec<String> = ms.iter().map(message).collect();
    format!("[{}]", parts.join(", "))
}

fn message(m: &Message) -> String {
    match m {
        Message::InstructionMessage { .. } => "instruction".into(),
        Message::UserMessage { contents, .. } => {
            let texts: Vec<String> = contents
                .iter()
                .map(|p| match p {
                    UserPart::Text(t) => format!("{:?}", t.text),
                    other => format!("{other:?}"),
                })
                .collect();
            format!("user({})", texts.join(" "))
        }
        Message::ExpertMessage { contents, .. } => {
            let parts: Vec<String> = contents
                .iter()
                .map(|p| match p {
                    ExpertPart::Text(t) => format!("{:?}", t.text),
                    ExpertPart::Thinking(t) => format!("thinking {:?}", t.thinking),
                    ExpertPart::ToolCall(c) => {
                        format!("{}#{}({})", c.tool_name, c.tool_call_id, c.args)
                    }
                })
                .collect();
            format!("expert({})", parts.join(" "))
        }
        Message::ToolMessage { contents, .. } => {
            let parts: Vec<String> = contents
                .iter()
                .map(|r| {
                    let texts: Vec<String> = r
                        .contents
                        .iter()
                        .map(|c| match c {
                            ToolResultContent::Text(t) => format!("{:?}", t.text),
                            other => format!("{other:?}"),
                        })
                        .collect();
                    format!("{}#{}={}", r.tool_name, r.tool_call_id, texts.join(" "))
                })
                .collect();
            format!("tool({})", parts.join(" "))
        }
    }
}

fn calls(cs: &[ToolCall]) -> String {
    let parts: Vec<String> = cs
        .iter()
        .map(|c| {
            format!(
                "{}/{}#{}({})",
                c.skill_name,
                c.tool_name,
                c.id,
                serde_json::Value::Object(c.args.clone())
            )
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn results(rs: &[ToolResult]) -> String {
    let parts: Vec<String> = rs
        .iter()
        .map(|r| {
            let texts: Vec<String> = r
                .result
                .iter()
                .map(|p| match p {
                    MessagePart::Text(t) => format!("{:?}", t.text),
                    other => format!("{other:?}"),
                })
                .collect();
            format!("{}#{}={}", r.tool_name, r.id, texts.join(" "))
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Runs from [`outline_runs`] as one text, each under a `--- run of <expert>` header.
pub fn blocks(runs: Vec<(String, String)>) -> String {
    runs.into_iter()
        .map(|(key, lines)| format!("--- run of {key}\n{lines}"))
        .collect::<Vec<_>>()
        .join("\n")
}
