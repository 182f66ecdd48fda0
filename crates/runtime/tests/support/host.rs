//! A tool host for tests: echo, fail and rendezvous tools, an interactive tool, the base
//! skill's `attemptCompletion`, and delegates.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use perstack_core::{MessagePart, TextPart, ToolCall, ToolDefinition, ToolResult};
use perstack_runtime::{BoxFuture, ToolEntry, ToolHost, ToolHostError, ToolKind, ToolOutcome};
use serde_json::{Value, json};
use tokio::sync::Barrier;

/// The test host. Every call is recorded.
#[derive(Debug)]
pub struct TestHost {
    calls: Mutex<Vec<ToolCall>>,
    completions: Mutex<VecDeque<String>>,
    rendezvous: Barrier,
    blocked: tokio::sync::Notify,
    block_calls: std::sync::atomic::AtomicUsize,
}

impl TestHost {
    /// A host whose `meet` tool waits until `parties` calls are in flight together.
    pub fn new(parties: usize) -> Arc<Self> {
        Arc::new(TestHost {
            calls: Mutex::new(Vec::new()),
            completions: Mutex::new(VecDeque::new()),
            rendezvous: Barrier::new(parties.max(1)),
            blocked: tokio::sync::Notify::new(),
            block_calls: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The next `attemptCompletion` answers `text` (default `{}`: nothing left to do).
    pub fn answer_completion(&self, text: &str) {
        self.completions.lock().unwrap().push_back(text.to_string());
    }

    /// Resolves once a first `block` call is hanging.
    pub async fn blocking(&self) {
        self.blocked.notified().await;
    }

    /// Calls received so far, in order of arrival.
    pub fn calls(&self) -> Vec<ToolCall> {
        self.calls.lock().unwrap().clone()
    }
}

fn entry(skill: &str, name: &str, kind: ToolKind) -> ToolEntry {
    ToolEntry {
        definition: ToolDefinition {
            skill_name: skill.into(),
            name: name.into(),
            description: Some(format!("The {name} tool.")),
            input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}}})
                .into(),
        },
        kind,
    }
}

fn result(call: &ToolCall, text: String) -> ToolOutcome {
    ToolOutcome::Result(ToolResult {
        id: call.id.clone(),
        skill_name: call.skill_name.clone(),
        tool_name: call.tool_name.clone(),
        result: vec![MessagePart::Text(TextPart {
            id: "part".into(),
            text,
        })],
        is_error: None,
    })
}

impl ToolHost for TestHost {
    fn tools(&self) -> BoxFuture<'_, Result<Vec<ToolEntry>, ToolHostError>> {
        Box::pin(async {
            Ok(vec![
                entry("@perstack/base", "attemptCompletion", ToolKind::Mcp),
                entry("tools", "echo", ToolKind::Mcp),
                entry("tools", "fail", ToolKind::Mcp),
                entry("tools", "meet", ToolKind::Mcp),
                entry("tools", "block", ToolKind::Mcp),
                entry("app", "ask", ToolKind::Interactive),
                entry(
                    "helper",
                    "helper",
                    ToolKind::Delegate {
                        expert_key: "helper".into(),
                    },
                ),
                entry(
                    "other",
                    "other",
                    ToolKind::Delegate {
                        expert_key: "other".into(),
                    },
                ),
            ])
        })
    }

    fn call(&self, call: ToolCall) -> BoxFuture<'_, ToolOutcome> {
        self.calls.lock().unwrap().push(call.clone());
        Box::pin(async move {
            let text = call.args.get("text").and_then(Value::as_str).unwrap_or("");
            match call.tool_name.as_str() {
                "echo" => result(&call, format!("echo: {text}")),
                "fail" => result(&call, format!("error: {text} failed")),
                "meet" => {
                    // Completes only when all parties call at once: proves concurrency
                    // without measuring time (the timeout only guards against a hang).
                    let met = tokio::time::timeout(Duration::from_secs(20), self.rendezvous.wait())
                        .await
                        .is_ok();
                    result(&call, if met { "met".into() } else { "alone".into() })
                }
                "block" => {
                    // The first call never returns (until cancelled); later ones do.
                    let n = self
                        .block_calls
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n == 0 {
                        self.blocked.notify_one();
                        std::future::pending::<()>().await;
                    }
                    result(&call, "unblocked".into())
                }
                "attemptCompletion" => {
                    let answer = self.completions.lock().unwrap().pop_front();
                    result(&call, answer.unwrap_or_else(|| "{}".into()))
                }
                other => result(&call, format!("unexpected call of {other}")),
            }
        })
    }
}
