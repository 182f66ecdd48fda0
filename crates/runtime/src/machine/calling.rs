//! `CallingTool` and `ResolvingToolResult`: run the step's tool calls and hand the results
//! to the model.

use std::sync::Arc;

use perstack_core::elicitation::ElicitationState;
use perstack_core::{DelegationTarget, ExpertRef, Message, ToolCall, ToolResult};
use perstack_events::RunEventPayload;
use serde_json::Value;

use super::finish::stop_by_approval;
use super::parts::{
    complete, has_remaining_todos, is_attempt_completion, last_expert_text, stop_by_signal,
    text_result, tool_message,
};
use super::{Machine, State, Transition};
use crate::approval::needs_approval;
use crate::tools::{ToolHost, ToolKind, ToolOutcome};

/// The step's calls sorted by how they are handled.
#[derive(Debug, Default)]
struct Classified {
    mcp: Vec<ToolCall>,
    delegate: Vec<(ToolCall, DelegationTarget)>,
    interactive: Vec<ToolCall>,
    /// Calls answered without running anything (unknown tool, delegate without a query).
    rejected: Vec<ToolResult>,
}

pub(super) async fn calling_tool(m: &mut Machine) -> Transition {
    let pending = m
        .step
        .pending_tool_calls
        .clone()
        .or_else(|| m.step.tool_calls.clone())
        .unwrap_or_default();
    let mut results = m.step.tool_results.clone().unwrap_or_default();
    // The step owns them now; a stop puts back what is still open.
    m.checkpoint.pending_tool_calls = None;
    m.checkpoint.partial_tool_results = None;
    let before = (pending.clone(), results.clone());
    let mut c = Classified::default();
    for call in pending {
        match m
            .tools
            .iter()
            .find(|t| t.definition.name == call.tool_name)
            .map(|t| t.kind.clone())
        {
            Some(ToolKind::Mcp) => c.mcp.push(call),
            Some(ToolKind::Interactive) => c.interactive.push(call),
            Some(ToolKind::Delegate { expert_key }) => {
                let query = call
                    .args
                    .get("query")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                classify_delegate(m, &mut c, call, expert_key, query);
            }
            None => {
                let text = format!(
                    "Tool \"{}\" does not exist. Call one of the tools offered.",
                    call.tool_name
                );
                c.rejected.push(text_result(&call, text));
            }
        }
    }
    let awaiting: Vec<ToolCall> = c
        .mcp
        .iter()
        .filter(|call| !m.approved.contains(&call.id) && needs_approval(&m.setting, call))
        .cloned()
        .collect();
    if !awaiting.is_empty() {
        // Nothing of the step runs before the operator decided.
        return stop_by_approval(m, awaiting, before.0, before.1);
    }
    results.append(&mut c.rejected);
    let stop = m.stop.clone();
    // Answers to a call's elicitations stay in the checkpoint until the call ran again.
    let answered = ElicitationState::of(&m.checkpoint);
    let outcomes = tokio::select! {
        biased;
        // Calls in flight are abandoned (their futures dropped) and run again on resume.
        name = stop.wait() => return stop_by_signal(m, name, before.0, before.1),
        outcomes = run_mcp(&m.host, &c.mcp, answered.as_ref()) => outcomes,
    };
    ElicitationState::take(&mut m.checkpoint);
    let mut elicited: Option<ElicitationState> = None;
    let mut completion: Option<ToolResult> = None;
    let mcp = std::mem::take(&mut c.mcp);
    for (call, outcome) in mcp.iter().zip(outcomes) {
        match outcome {
            ToolOutcome::Result(r) => {
                if is_attempt_completion(call) {
                    completion = Some(r.clone());
                }
                results.push(r);
            }
            ToolOutcome::Interactive => c.interactive.push(call.clone()),
            ToolOutcome::Delegate { expert_key, query } => {
                classify_delegate(m, &mut c, call.clone(), expert_key, Some(query));
            }
            // The first question goes to the application, its call first among the
            // pending ones; other asking calls run again on resume (and ask again).
            ToolOutcome::Elicitation(request) if elicited.is_none() => {
                let earlier = answered
                    .as_ref()
                    .filter(|a| a.tool_call_id == call.id)
                    .map(|a| a.answered.clone())
                    .unwrap_or_default();
                elicited = Some(ElicitationState {
                    tool_call_id: call.id.clone(),
                    skill_name: call.skill_name.clone(),
                    tool_name: call.tool_name.clone(),
                    pending: Some(request),
                    answered: earlier,
                });
                c.interactive.insert(0, call.clone());
            }
            ToolOutcome::Elicitation(_) => c.interactive.push(call.clone()),
        }
    }
    if let Some(state) = &elicited {
        state.store(&mut m.checkpoint);
    }
    results.append(&mut c.rejected);

    if let Some(done) = completion.filter(|_| c.delegate.is_empty() && c.interactive.is_empty()) {
        m.step.tool_results = Some(results.clone());
        m.step.pending_tool_calls = None;
        if has_remaining_todos(&done) {
            // Open todos: back to work with the results.
            let payload = RunEventPayload::ResolveToolResults {
                tool_results: results,
            };
            return (payload, State::ResolvingToolResult);
        }
        if let Some(text) = last_expert_text(&m.checkpoint.messages) {
            // The model already wrote its result next to attemptCompletion.
            let tools = tool_message(&results, m.step.tool_calls.as_deref());
            let answer = Message::expert(vec![perstack_core::ExpertPart::Text(
                perstack_core::TextPart::new(text.clone()),
            )]);
            return complete(
                m,
                vec![tools, answer],
                text,
                perstack_core::Usage::default(),
            );
        }
        let payload = RunEventPayload::AttemptCompletion { tool_result: done };
        return (payload, State::GeneratingRunResult);
    }

    let new_message = m
        .checkpoint
        .messages
        .last()
        .cloned()
        .unwrap_or_else(|| Message::expert(Vec::new()));
    if !c.delegate.is_empty() {
        let (calls, targets): (Vec<_>, Vec<_>) = c.delegate.into_iter().unzip();
        m.step.partial_tool_results = Some(results);
        m.step.pending_tool_calls = Some(calls.iter().cloned().chain(c.interactive).collect());
        m.delegations = targets;
        let payload = RunEventPayload::CallDelegate {
            new_message,
            tool_calls: calls,
            usage: m.step.usage,
        };
        return (payload, State::CallingDelegate);
    }
    if let Some(first) = c.interactive.first().cloned() {
        m.step.partial_tool_results = Some(results);
        m.step.pending_tool_calls = Some(c.interactive);
        let payload = RunEventPayload::CallInteractiveTool {
            new_message,
            tool_call: first,
            usage: m.step.usage,
        };
        return (payload, State::CallingInteractiveTool);
    }
    m.step.tool_results = Some(results.clone());
    m.step.pending_tool_calls = None;
    let payload = RunEventPayload::ResolveToolResults {
        tool_results: results,
    };
    (payload, State::ResolvingToolResult)
}

/// Files a delegate call, or answers it with an error when it cannot be delegated.
fn classify_delegate(
    m: &Machine,
    c: &mut Classified,
    call: ToolCall,
    expert_key: String,
    query: Option<String>,
) {
    let Some(query) = query else {
        c.rejected.push(text_result(
            &call,
            "Delegation needs a string argument \"query\".",
        ));
        return;
    };
    let Some(expert) = m.setting.experts.get(&expert_key) else {
        let text = format!("Expert \"{expert_key}\" is not defined; it cannot be delegated to.");
        c.rejected.push(text_result(&call, text));
        return;
    };
    let target = DelegationTarget {
        expert: ExpertRef {
            key: expert_key.clone(),
            name: expert_key.clone(),
            version: expert.version_or_default().to_string(),
        },
        tool_call_id: call.id.clone(),
        tool_name: call.tool_name.clone(),
        query,
    };
    c.delegate.push((call, target));
}

/// Runs MCP calls concurrently; outcomes in call order.
async fn run_mcp(
    host: &Arc<dyn ToolHost>,
    calls: &[ToolCall],
    answered: Option<&ElicitationState>,
) -> Vec<ToolOutcome> {
    futures::future::join_all(calls.iter().map(|call| {
        let host = Arc::clone(host);
        let call = call.clone();
        let answers = answered
            .filter(|a| a.tool_call_id == call.id)
            .map(|a| a.answered.clone());
        async move {
            match answers {
                Some(answers) => host.call_answering(call, answers).await,
                None => host.call(call).await,
            }
        }
    }))
    .await
}

pub(super) fn resolving_tool_result(m: &mut Machine) -> Transition {
    let results = m.step.tool_results.clone().unwrap_or_default();
    let message = tool_message(&results, m.step.tool_calls.as_deref());
    m.checkpoint.messages.push(message.clone());
    m.step.new_messages.push(message.clone());
    let payload = RunEventPayload::FinishToolCall {
        new_messages: vec![message],
    };
    (payload, State::FinishingStep)
}
