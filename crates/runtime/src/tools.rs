//! The tool interface the agent loop needs: list tools, call one. The skill host implements
//! it on top of MCP; tests implement it directly.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use perstack_core::elicitation::{AnsweredElicitation, ElicitationRequest};
use perstack_core::{ToolCall, ToolDefinition, ToolResult};

use crate::host_events::HostEvents;

/// A boxed, sendable future (the trait methods below must stay object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the loop treats calls of a tool (Perstack's skill types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolKind {
    /// Executed by the host; calls of one step run concurrently.
    Mcp,
    /// Answered by the application: the run stops with `stopRunByInteractiveTool`.
    Interactive,
    /// Runs another Expert with the call's `query` argument.
    Delegate {
        /// Key of the Expert to run.
        expert_key: String,
    },
}

/// A tool offered to the model and how its calls are handled.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolEntry {
    /// What the model sees.
    pub definition: ToolDefinition,
    /// How calls are handled.
    pub kind: ToolKind,
}

/// What calling a tool produced.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolOutcome {
    /// The tool ran; this is its result (errors included, as text the model can read).
    Result(ToolResult),
    /// The call must be answered by the application: stop the run for it.
    Interactive,
    /// The call must be served by another Expert.
    Delegate {
        /// Key of the Expert to run.
        expert_key: String,
        /// The query for it.
        query: String,
    },
    /// The server asked the user during the call; the call was abandoned (ours). The run
    /// stops for the application, and the call runs again with the answer.
    Elicitation(ElicitationRequest),
}

/// A failure of the host itself (not of a tool call): the run cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ToolHostError {
    /// What went wrong, for the user.
    pub message: String,
}

impl ToolHostError {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        ToolHostError {
            message: message.into(),
        }
    }
}

/// The tools of one running Expert.
///
/// `call` is only invoked for tools listed with [`ToolKind::Mcp`] and must not fail: a
/// failing tool is reported to the model as a result. It may be called concurrently.
pub trait ToolHost: Send + Sync + fmt::Debug {
    /// Every tool the Expert may call, with its kind.
    fn tools(&self) -> BoxFuture<'_, Result<Vec<ToolEntry>, ToolHostError>>;
    /// Runs one call.
    fn call(&self, call: ToolCall) -> BoxFuture<'_, ToolOutcome>;
    /// Runs one call again, giving the server the answers the application gave to the
    /// call's elicitations. Hosts whose tools never elicit need not override it.
    fn call_answering(
        &self,
        call: ToolCall,
        _answered: Vec<AnsweredElicitation>,
    ) -> BoxFuture<'_, ToolOutcome> {
        self.call(call)
    }
}

/// The host of an Expert whose skills did not start: no tools. The run stops with
/// `stopRunByError` before any step, so nothing calls it; a call would read why.
#[derive(Debug)]
pub(crate) struct UnstartedHost(pub ToolHostError);

impl ToolHost for UnstartedHost {
    fn tools(&self) -> BoxFuture<'_, Result<Vec<ToolEntry>, ToolHostError>> {
        Box::pin(async { Err(self.0.clone()) })
    }

    fn call(&self, call: ToolCall) -> BoxFuture<'_, ToolOutcome> {
        Box::pin(async move {
            ToolOutcome::Result(ToolResult {
                id: call.id,
                skill_name: call.skill_name,
                tool_name: call.tool_name,
                result: vec![perstack_core::MessagePart::Text(
                    perstack_core::TextPart::new(self.0.message.clone()),
                )],
                is_error: Some(true),
            })
        })
    }
}

/// Who asks for a tool host, so the host can tag its own events (skill lifecycle).
#[derive(Clone)]
pub struct HostRequest {
    /// The Expert that will use the tools.
    pub expert_key: String,
    /// The job.
    pub job_id: String,
    /// The run that opens the host.
    pub run_id: String,
    /// Where the host's runtime events (`skillStarting`, `skillConnected`...) go: the log
    /// and listener of the run using the host at the time.
    pub events: HostEvents,
}

impl fmt::Debug for HostRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostRequest")
            .field("expert_key", &self.expert_key)
            .field("job_id", &self.job_id)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// Opens the tool host of an Expert (once per Expert per job; delegates get their own).
pub trait ToolHostFactory: Send + Sync + fmt::Debug {
    /// The host for `request.expert_key`, started and ready.
    fn open(&self, request: HostRequest)
    -> BoxFuture<'_, Result<Arc<dyn ToolHost>, ToolHostError>>;
}

/// A factory that hands out the same host to every Expert (single-Expert embeddings, tests).
#[derive(Debug, Clone)]
pub struct SharedToolHost(pub Arc<dyn ToolHost>);

impl ToolHostFactory for SharedToolHost {
    fn open(
        &self,
        _request: HostRequest,
    ) -> BoxFuture<'_, Result<Arc<dyn ToolHost>, ToolHostError>> {
        let host = Arc::clone(&self.0);
        Box::pin(async move { Ok(host) })
    }
}
