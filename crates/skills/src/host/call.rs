//! Calling a catalogue tool: an MCP tool call (whose every failure becomes a result the
//! model can read), or the signal to stop for the application or to delegate.

use perstack_core::{MessagePart, TextPart, ToolCall, ToolResult};
use serde_json::{Map, Value};

use super::SkillHost;
use super::catalogue::ToolKind;
use super::client::CallFailure;
use super::elicitation::KnownAnswer;
use super::start::Backend;

/// How much later than the operator's limit the host gives up on the built-in base skill,
/// which enforces the limit on `exec` itself (the supervisor needs a moment to end the tree).
const BASE_SKILL_BACKSTOP: std::time::Duration = std::time::Duration::from_secs(5);
use super::convert::tool_result_parts;

/// A finished tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The result, in Perstack's shape.
    pub result: ToolResult,
    /// The tool (or the host on its behalf) reported an error.
    pub is_error: bool,
}

/// A call to a delegate Expert.
#[derive(Debug, Clone, PartialEq)]
pub struct DelegateCall {
    /// The delegate's expert key.
    pub expert_key: String,
    /// The query for it.
    pub query: String,
    /// The call as the model made it.
    pub call: ToolCall,
}

/// What a tool call amounts to.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The tool ran (or failed in a way the model can read).
    Result(ToolOutput),
    /// An interactive tool: stop the run and let the application answer.
    Interactive(ToolCall),
    /// A delegate: run the delegate Expert with the query.
    Delegate(DelegateCall),
    /// The server asked the user during the call (`HostOptions::elicitation_stops`): the
    /// call was cancelled; these are the `elicitation/create` params (`message`,
    /// `requestedSchema`). Call again with the answer to run it for real.
    Elicitation(Value),
}

impl CallOutcome {
    /// The result, when the tool ran.
    pub fn into_output(self) -> Option<ToolOutput> {
        match self {
            CallOutcome::Result(o) => Some(o),
            CallOutcome::Interactive(_)
            | CallOutcome::Delegate(_)
            | CallOutcome::Elicitation(_) => None,
        }
    }
}

fn error_output(id: &str, skill: &str, tool: &str, message: String) -> ToolOutput {
    ToolOutput {
        result: ToolResult {
            id: id.to_string(),
            skill_name: skill.to_string(),
            tool_name: tool.to_string(),
            result: vec![MessagePart::Text(TextPart::new(message))],
            is_error: Some(true),
        },
        is_error: true,
    }
}

impl SkillHost {
    /// Calls `tool_name` with `args` for the model's call `tool_call_id`. Never fails:
    /// an unknown tool, a JSON-RPC error, a crashed server or a timeout is an error result.
    pub async fn call(
        &self,
        tool_call_id: &str,
        tool_name: &str,
        args: Map<String, Value>,
    ) -> CallOutcome {
        self.call_answering(tool_call_id, tool_name, args, Vec::new())
            .await
    }

    /// [`SkillHost::call`], with the answers the application gave to the call's
    /// elicitations: a server asking one of them is answered at once.
    pub async fn call_answering(
        &self,
        tool_call_id: &str,
        tool_name: &str,
        args: Map<String, Value>,
        known: Vec<KnownAnswer>,
    ) -> CallOutcome {
        let Some(entry) = self.catalogue.get(tool_name) else {
            let known: Vec<&str> = self
                .catalogue
                .entries()
                .map(|e| e.definition.name.as_str())
                .collect();
            return CallOutcome::Result(error_output(
                tool_call_id,
                "",
                tool_name,
                format!(
                    "Error: there is no tool named {tool_name}. Available tools: {}",
                    known.join(", ")
                ),
            ));
        };
        let skill_name = entry.definition.skill_name.clone();
        let call = ToolCall {
            id: tool_call_id.to_string(),
            skill_name: skill_name.clone(),
            tool_name: tool_name.to_string(),
            args,
        };
        match &entry.kind {
            ToolKind::Interactive => CallOutcome::Interactive(call),
            ToolKind::Delegate { expert_key } => match call.args.get("query") {
                Some(Value::String(q)) => CallOutcome::Delegate(DelegateCall {
                    expert_key: expert_key.clone(),
                    query: q.clone(),
                    call,
                }),
                _ => CallOutcome::Result(error_output(
                    tool_call_id,
                    &skill_name,
                    tool_name,
                    format!("Error calling tool {tool_name}: \"query\" (a string) is required"),
                )),
            },
            ToolKind::Mcp => self.call_mcp(call, known).await,
        }
    }

    async fn call_mcp(&self, call: ToolCall, known: Vec<KnownAnswer>) -> CallOutcome {
        let ready = self.skills.iter().find(|s| s.name == call.skill_name);
        let skill = match ready {
            Some(s) => s,
            None => match self.lazy.iter().find(|p| p.name() == call.skill_name) {
                // A locked tool whose skill is still starting: wait for it.
                Some(p) => match p.wait().await {
                    Ok(started) => &started.skill,
                    Err(e) => {
                        return CallOutcome::Result(error_output(
                            &call.id,
                            &call.skill_name,
                            &call.tool_name,
                            CallFailure::Disconnected(e.to_string())
                                .message(&call.skill_name, &call.tool_name),
                        ));
                    }
                },
                None => {
                    return CallOutcome::Result(error_output(
                        &call.id,
                        &call.skill_name,
                        &call.tool_name,
                        CallFailure::Disconnected("not started".into())
                            .message(&call.skill_name, &call.tool_name),
                    ));
                }
            },
        };
        let limit = self.options.call_timeout;
        // The built-in base skill enforces the limit itself (`exec` ends its command tree and
        // says so); the host's deadline comes a little later, as a backstop.
        let deadline = match skill.backend {
            Backend::InProcess { .. } => limit.saturating_add(BASE_SKILL_BACKSTOP),
            Backend::Remote { .. } | Backend::Stdio { .. } => limit,
        };
        let answer = skill
            .session
            .call(&call.tool_name, call.args.clone(), deadline, known)
            .await
            .map_err(|failure| match failure {
                CallFailure::Timeout(_) => CallFailure::Timeout(limit),
                other @ (CallFailure::Rpc(_)
                | CallFailure::Disconnected(_)
                | CallFailure::Elicitation(_)) => other,
            });
        CallOutcome::Result(match answer {
            Err(CallFailure::Elicitation(request)) => {
                tracing::info!(skill = %call.skill_name, tool = %call.tool_name, "the skill asked the user: the call stops for the application");
                return CallOutcome::Elicitation(request);
            }
            Ok(result) => {
                let (parts, is_error) = tool_result_parts(&call.tool_name, &call.args, &result);
                ToolOutput {
                    result: ToolResult {
                        id: call.id,
                        skill_name: call.skill_name,
                        tool_name: call.tool_name,
                        result: parts,
                        is_error: is_error.then_some(true),
                    },
                    is_error,
                }
            }
            Err(failure) => {
                tracing::warn!(skill = %call.skill_name, tool = %call.tool_name, ?failure, "tool call failed");
                let message = failure.message(&call.skill_name, &call.tool_name);
                error_output(&call.id, &call.skill_name, &call.tool_name, message)
            }
        })
    }
}
