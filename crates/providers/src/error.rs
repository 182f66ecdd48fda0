//! The one error type of this crate. Each variant tells the caller what to do; every
//! variant answers [`ProviderError::is_retryable`].

use std::fmt;
use std::time::Duration;

use perstack_core::config::ProviderName;

/// Why a generation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The provider cannot be built from the configuration and environment given:
    /// fix the config (a missing API key, a malformed base URL). Never retryable.
    #[error("{provider}: configuration error: {message}")]
    Config {
        /// Which provider.
        provider: ProviderName,
        /// What is wrong, naming the setting or variable.
        message: String,
    },
    /// The request cannot be expressed in this provider's API (e.g. an empty model id).
    /// Never retryable: the same request would fail again.
    #[error("{provider}: invalid request: {message}")]
    InvalidRequest {
        /// Which provider.
        provider: ProviderName,
        /// What is wrong.
        message: String,
    },
    /// The API refused the request (an HTTP error status) or reported an error event in
    /// the middle of a stream. Retryable depending on the status and error type.
    #[error("{0}")]
    Api(ApiError),
    /// No response arrived: the connection could not be made or broke before the
    /// response headers. Retryable.
    #[error("{provider}: connection failed: {message}")]
    Connection {
        /// Which provider.
        provider: ProviderName,
        /// Transport detail.
        message: String,
    },
    /// A loopback or private host refused the connection: nothing listens there, and
    /// retrying will not start it. Never retryable: start the server (`ollama serve`) or
    /// fix the provider's base URL.
    #[error("{provider}: cannot reach {origin} — {}", UnreachableHint(*provider))]
    Unreachable {
        /// Which provider.
        provider: ProviderName,
        /// Scheme, host and port that refused, e.g. `http://127.0.0.1:11434`.
        origin: String,
    },
    /// The response stream broke: disconnected, stalled, cut short or unparseable.
    /// Nothing from it is passed on as complete; a new generation is safe. Retryable.
    #[error("{provider}: stream {kind}: {message}{}", RequestIdSuffix(request_id.as_deref()))]
    Stream {
        /// Which provider.
        provider: ProviderName,
        /// How it broke.
        kind: StreamFailure,
        /// Detail.
        message: String,
        /// The provider's request id, when it sent one.
        request_id: Option<String>,
    },
    /// The model produced a tool call whose arguments are not a JSON object. Retryable:
    /// models usually get it right the next time.
    #[error(
        "{provider}: malformed arguments for tool call {tool_call_id} ({tool_name}): {message}{}",
        RequestIdSuffix(request_id.as_deref())
    )]
    MalformedToolCall {
        /// Which provider.
        provider: ProviderName,
        /// Tool the model tried to call.
        tool_name: String,
        /// The call's id.
        tool_call_id: String,
        /// Why the arguments were rejected.
        message: String,
        /// The provider's request id, when it sent one.
        request_id: Option<String>,
    },
    /// The generation did not finish within its time budget (`timeout` in
    /// `perstack.toml`), retries included. Retryable with a fresh budget.
    #[error("{provider}: generation timed out after {} ms{}", timeout.as_millis(), RequestIdSuffix(request_id.as_deref()))]
    Timeout {
        /// Which provider.
        provider: ProviderName,
        /// The budget that ran out.
        timeout: Duration,
        /// The provider's request id of the last attempt, when known.
        request_id: Option<String>,
    },
}

/// How a response stream broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFailure {
    /// The connection dropped mid-stream.
    Disconnected,
    /// No bytes arrived for longer than the idle timeout.
    Stalled,
    /// The stream ended cleanly but without the provider's end marker or stop reason.
    Truncated,
    /// An event was not valid JSON or not the shape the protocol defines.
    Malformed,
    /// One event exceeded the size limit.
    TooLarge,
}

impl fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamFailure::Disconnected => "disconnected",
            StreamFailure::Stalled => "stalled",
            StreamFailure::Truncated => "truncated",
            StreamFailure::Malformed => "malformed",
            StreamFailure::TooLarge => "event too large",
        })
    }
}

/// An error the provider's API reported, with what it said.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// Which provider.
    pub provider: ProviderName,
    /// HTTP status; `None` for an error event inside a stream.
    pub status: Option<u16>,
    /// The provider's error type or code (`overloaded_error`, `rate_limit_exceeded`,
    /// `RESOURCE_EXHAUSTED`...), when given.
    pub error_type: Option<String>,
    /// The provider's message, with credentials scrubbed.
    pub message: String,
    /// The provider's request id, when it sent one.
    pub request_id: Option<String>,
    /// How long the provider asked us to wait before retrying.
    pub retry_after: Option<Duration>,
    /// Whether trying again can succeed.
    pub retryable: bool,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.provider)?;
        match self.status {
            Some(status) => write!(f, "HTTP {status}")?,
            None => f.write_str("error event")?,
        }
        if let Some(kind) = &self.error_type {
            write!(f, " ({kind})")?;
        }
        write!(f, ": {}", self.message)?;
        write!(f, "{}", RequestIdSuffix(self.request_id.as_deref()))
    }
}

/// What to check when a local endpoint refuses connections.
struct UnreachableHint(ProviderName);

impl fmt::Display for UnreachableHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == ProviderName::Ollama {
            return f.write_str(
                "is Ollama running? (connection refused; start it with `ollama serve` \
                 or point OLLAMA_BASE_URL at it)",
            );
        }
        write!(
            f,
            "is the server running? (connection refused; start it or fix the base URL \
             of provider {})",
            self.0
        )
    }
}

/// Formats ` [request id: ...]` when there is one.
struct RequestIdSuffix<'a>(Option<&'a str>);

impl fmt::Display for RequestIdSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, " [request id: {id}]"),
            None => Ok(()),
        }
    }
}

impl ProviderError {
    /// Whether a new attempt of the same generation can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Config { .. }
            | ProviderError::InvalidRequest { .. }
            | ProviderError::Unreachable { .. } => false,
            ProviderError::Api(api) => api.retryable,
            ProviderError::Connection { .. }
            | ProviderError::Stream { .. }
            | ProviderError::MalformedToolCall { .. }
            | ProviderError::Timeout { .. } => true,
        }
    }

    /// The provider that failed.
    pub fn provider(&self) -> ProviderName {
        match self {
            ProviderError::Config { provider, .. }
            | ProviderError::InvalidRequest { provider, .. }
            | ProviderError::Connection { provider, .. }
            | ProviderError::Unreachable { provider, .. }
            | ProviderError::Stream { provider, .. }
            | ProviderError::MalformedToolCall { provider, .. }
            | ProviderError::Timeout { provider, .. } => *provider,
            ProviderError::Api(api) => api.provider,
        }
    }

    /// The provider's request id, when it sent one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ProviderError::Config { .. }
            | ProviderError::InvalidRequest { .. }
            | ProviderError::Connection { .. }
            | ProviderError::Unreachable { .. } => None,
            ProviderError::Api(api) => api.request_id.as_deref(),
            ProviderError::Stream { request_id, .. }
            | ProviderError::MalformedToolCall { request_id, .. }
            | ProviderError::Timeout { request_id, .. } => request_id.as_deref(),
        }
    }

    /// The HTTP status, for errors that came with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::Api(api) => api.status,
            ProviderError::Config { .. }
            | ProviderError::InvalidRequest { .. }
            | ProviderError::Connection { .. }
            | ProviderError::Unreachable { .. }
            | ProviderError::Stream { .. }
            | ProviderError::MalformedToolCall { .. }
            | ProviderError::Timeout { .. } => None,
        }
    }

    /// How long the provider asked us to wait before retrying, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Api(api) => api.retry_after,
            ProviderError::Config { .. }
            | ProviderError::InvalidRequest { .. }
            | ProviderError::Connection { .. }
            | ProviderError::Unreachable { .. }
            | ProviderError::Stream { .. }
            | ProviderError::MalformedToolCall { .. }
            | ProviderError::Timeout { .. } => None,
        }
    }

    /// A short stable name for the kind of failure (for events and logs).
    pub fn kind_name(&self) -> &'static str {
        match self {
            ProviderError::Config { .. } => "ConfigError",
            ProviderError::InvalidRequest { .. } => "InvalidRequest",
            ProviderError::Api(_) => "APICallError",
            ProviderError::Connection { .. } => "ConnectionError",
            ProviderError::Unreachable { .. } => "UnreachableError",
            ProviderError::Stream { .. } => "StreamError",
            ProviderError::MalformedToolCall { .. } => "InvalidToolArgumentsError",
            ProviderError::Timeout { .. } => "TimeoutError",
        }
    }

    /// Adds a request id to an error that lacks one (the id comes from response headers,
    /// which the stream decoders do not see).
    pub(crate) fn with_request_id(mut self, id: Option<&str>) -> Self {
        let Some(id) = id else { return self };
        match &mut self {
            ProviderError::Api(api) => {
                api.request_id.get_or_insert_with(|| id.to_string());
            }
            ProviderError::Stream { request_id, .. }
            | ProviderError::MalformedToolCall { request_id, .. }
            | ProviderError::Timeout { request_id, .. } => {
                request_id.get_or_insert_with(|| id.to_string());
            }
            ProviderError::Config { .. }
            | ProviderError::InvalidRequest { .. }
            | ProviderError::Connection { .. }
            | ProviderError::Unreachable { .. } => {}
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn display_carries_status_type_message_and_request_id() {
        let e = ProviderError::Api(ApiError {
            provider: ProviderName::Anthropic,
            status: Some(529),
            error_type: Some("overloaded_error".into()),
            message: "Overloaded".into(),
            request_id: Some("req_1".into()),
            retry_after: None,
            retryable: true,
        });
        assert_eq!(
            e.to_string(),
            "anthropic: HTTP 529 (overloaded_error): Overloaded [request id: req_1]"
        );
        assert!(e.is_retryable());
        assert_eq!(e.request_id(), Some("req_1"));
    }

    #[test]
    fn stream_errors_are_retryable_and_config_errors_are_not() {
        let s = ProviderError::Stream {
            provider: ProviderName::OpenAi,
            kind: StreamFailure::Truncated,
            message: "no finish_reason".into(),
            request_id: None,
        };
        assert_eq!(s.to_string(), "openai: stream truncated: no finish_reason");
        assert!(s.is_retryable());
        let c = ProviderError::Config {
            provider: ProviderName::OpenAi,
            message: "OPENAI_API_KEY is not set".into(),
        };
        assert!(!c.is_retryable());
    }

    #[test]
    fn with_request_id_fills_only_missing_ids() {
        let e = ProviderError::Stream {
            provider: ProviderName::Google,
            kind: StreamFailure::Malformed,
            message: "x".into(),
            request_id: Some("a".into()),
        };
        assert_eq!(e.with_request_id(Some("b")).request_id(), Some("a"));
    }
}
