//! One MCP client session (rmcp) to a skill: handshake, tool listing, tool calls with a
//! timeout that also give up at once when the server process dies.

use std::sync::Arc;
use std::time::Duration;

use perstack_events::ServerInfo;
use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
    ElicitationAction, ElicitationCapability, FormElicitationCapability, Implementation,
    ProtocolVersion,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::transport::IntoTransport;
use rmcp::transport::streamable_http_client::StreamableHttpError;
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::elicitation::{
    ElicitationAnswer, ElicitationHandler, ElicitationStops, KnownAnswer, with_defaults,
};

/// Our identity in the MCP handshake, and the answers to a server's requests.
#[derive(Clone, Default)]
pub(crate) struct HostClient {
    /// The skill this session serves.
    pub skill: String,
    /// Who answers elicitation requests (none: the capability is not declared).
    pub elicitation: Option<Arc<dyn ElicitationHandler>>,
    /// With no handler: elicitations stop the tool call for the application.
    pub stops: Option<Arc<ElicitationStops>>,
}

impl std::fmt::Debug for HostClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostClient")
            .field("skill", &self.skill)
            .field("elicitation", &self.elicitation.is_some())
            .field("stops", &self.stops.is_some())
            .finish()
    }
}

impl ClientHandler for HostClient {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        if self.elicitation.is_some() || self.stops.is_some() {
            capabilities.elicitation =
                Some(ElicitationCapability::new().with_form(FormElicitationCapability::new()));
        }
        // We use the `initialize` handshake, so we ask for the newest version that has one
        // (rmcp's default names a later revision that replaced the handshake).
        ClientConfig::new(
            capabilities,
            Implementation::new("perstack", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let params = serde_json::to_value(&request)
            .map_err(|e| ErrorData::internal_error(format!("unreadable elicitation: {e}"), None))?;
        let schema = params
            .get("requestedSchema")
            .cloned()
            .unwrap_or(Value::Null);
        let answer = match (&self.elicitation, &self.stops) {
            (Some(handler), _) => handler.elicit(&self.skill, params),
            (None, Some(stops)) => stops.elicit(&self.skill, params),
            (None, None) => return Ok(ElicitResult::new(ElicitationAction::Decline)),
        };
        Ok(match answer.await {
            ElicitationAnswer::Accept(content) => ElicitResult::new(ElicitationAction::Accept)
                .with_content(Value::Object(with_defaults(content, &schema))),
            ElicitationAnswer::Decline => ElicitResult::new(ElicitationAction::Decline),
            ElicitationAnswer::Cancel => ElicitResult::new(ElicitationAction::Cancel),
        })
    }
}

/// Why a tool call produced no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallFailure {
    /// No answer within the call timeout.
    Timeout(Duration),
    /// The server answered with a JSON-RPC error.
    Rpc(String),
    /// The server is gone (process exited, connection closed).
    Disconnected(String),
    /// The server asked the user (these `elicitation/create` params): the call was
    /// cancelled so the application can answer.
    Elicitation(Value),
}

impl CallFailure {
    /// The text the model reads.
    pub fn message(&self, skill: &str, tool: &str) -> String {
        match self {
            CallFailure::Timeout(d) => format!(
                "Error calling tool {tool}: skill \"{skill}\" did not answer in time: {}",
                crate::base::operator_limit_text(*d)
            ),
            CallFailure::Rpc(m) => format!("Error calling tool {tool}: {m}"),
            CallFailure::Disconnected(m) => {
                format!("Error calling tool {tool}: skill \"{skill}\" is not running ({m})")
            }
            CallFailure::Elicitation(_) => format!(
                "Error calling tool {tool}: skill \"{skill}\" asked the user, and no one can answer here"
            ),
        }
    }
}

/// A connected MCP session.
#[derive(Debug)]
pub(crate) struct Session {
    service: RunningService<RoleClient, HostClient>,
    /// Turns `true` when the server process is known to be gone.
    gone: watch::Receiver<bool>,
    /// Set when elicitations stop the call.
    stops: Option<Arc<ElicitationStops>>,
}

impl Session {
    /// Runs the MCP handshake over `transport`.
    pub async fn connect<T, E, A>(
        client: HostClient,
        transport: T,
        gone: watch::Receiver<bool>,
    ) -> Result<Self, String>
    where
        T: IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let stops = client.stops.clone();
        let service = client
            .serve(transport)
            .await
            .map_err(|e| format!("MCP handshake failed: {}", handshake_error(&e)))?;
        Ok(Session {
            service,
            gone,
            stops,
        })
    }

    /// The server's self-reported name and version.
    pub fn server_info(&self) -> Option<ServerInfo> {
        let info = self.service.peer_info()?;
        let implementation = info.server_info.as_ref()?;
        Some(ServerInfo {
            name: implementation.name.clone(),
            version: implementation.version.clone(),
        })
    }

    /// Every tool (all pages), as JSON.
    pub async fn list_tools(&self) -> Result<Vec<Value>, String> {
        let tools = self
            .service
            .list_all_tools()
            .await
            .map_err(|e| format!("tools/list failed: {e}"))?;
        tools
            .iter()
            .map(|t| serde_json::to_value(t).map_err(|e| format!("unreadable tool: {e}")))
            .collect()
    }

    /// Calls `tool`; the `CallToolResult` as JSON. On a session that stops for
    /// elicitations, `known` answers the call's elicitations the application answered.
    pub async fn call(
        &self,
        tool: &str,
        args: Map<String, Value>,
        timeout: Duration,
        known: Vec<KnownAnswer>,
    ) -> Result<Value, CallFailure> {
        let mut gone = self.gone.clone();
        if *gone.borrow() || self.service.is_transport_closed() {
            return Err(CallFailure::Disconnected(
                "the server process exited".into(),
            ));
        }
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args);
        let request = self.service.call_tool(params);
        let mut scope = self.stops.as_ref().map(|s| s.register(known));
        let stopped = async {
            match scope.as_mut().map(|s| &mut s.stopped) {
                Some(stopped) => match stopped.await {
                    Ok(request) => request,
                    Err(_) => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        // Dropping the `tools/call` future sends `notifications/cancelled`.
        tokio::select! {
            request = stopped => Err(CallFailure::Elicitation(request)),
            answer = tokio::time::timeout(timeout, request) => match answer {
                Err(_) => Err(CallFailure::Timeout(timeout)),
                Ok(Err(e)) => Err(classify(e)),
                Ok(Ok(result)) => serde_json::to_value(&result)
                    .map_err(|e| CallFailure::Rpc(format!("unreadable result: {e}"))),
            },
            _ = gone.wait_for(|g| *g) => {
                Err(CallFailure::Disconnected("the server process exited".into()))
            }
        }
    }

    /// Ends the session (closes the transport: a stdio child sees EOF on stdin).
    pub async fn close(mut self, timeout: Duration) {
        if let Err(e) = self.service.close_with_timeout(timeout).await {
            tracing::debug!(error = %e, "MCP session task failed while closing");
        }
    }
}

// rmcp's enum is non-exhaustive: whatever else it reports is passed on as text.
#[allow(clippy::wildcard_enum_match_arm)]
fn classify(e: rmcp::service::ServiceError) -> CallFailure {
    use rmcp::service::ServiceError;
    match e {
        ServiceError::McpError(data) => CallFailure::Rpc(data.message.to_string()),
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
            CallFailure::Disconnected(e.to_string())
        }
        ServiceError::Timeout { timeout } => CallFailure::Timeout(timeout),
        other => CallFailure::Rpc(other.to_string()),
    }
}

/// Why the handshake failed, in one line. A transport failure is told by its causes
/// (`error sending request for url (…): … Connection refused`), not by rmcp's message,
/// which names the transport's generic Rust type.
fn handshake_error(e: &rmcp::service::ClientInitializeError) -> String {
    if let rmcp::service::ClientInitializeError::TransportError { error, context } = e {
        let mut parts: Vec<String> = Vec::new();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(error.error.as_ref());
        // rmcp's HTTP client error does not expose reqwest's error as its source.
        type HttpError = StreamableHttpError<reqwest::Error>;
        if let Some(HttpError::Client(inner)) = error.error.downcast_ref::<HttpError>() {
            cur = Some(inner);
        }
        while let Some(err) = cur {
            let text = err.to_string();
            if !parts.iter().any(|p| p.contains(&text)) {
                parts.push(text);
            }
            cur = err.source();
        }
        return format!("{} ({context})", parts.join(": "));
    }
    e.to_string()
}
