//! What can go wrong: [`ProxyError`] for starting the proxy, [`Failure`] for one request (mapped
//! to an HTTP status and a JSON body in one place, [`Failure::into_response`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Response, StatusCode, header};
use perstack_sandbox::Refusal;

use crate::body::ProxyBody;

/// Why the proxy could not be configured or started. Each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A provider could not be configured (usually: its API key is not set).
    #[error(
        "{source}; set it in the proxy's environment or an --env-file (the key stays outside \
         the container), or pass --no-credentials-ok to forward that provider's requests keyless"
    )]
    Provider {
        /// The provider's own error, which names the variable.
        #[source]
        source: perstack_providers::ProviderError,
    },
    /// A flag or config entry naming an upstream is malformed.
    #[error("{flag} {entry:?}: {reason}")]
    BadEntry {
        /// The flag or config key (`--allow`, `--allow-private`, `--bearer`, `endpoint`).
        flag: &'static str,
        /// The entry as given.
        entry: String,
        /// What is wrong and how to write it.
        reason: String,
    },
    /// Two sources give different credentials for one upstream.
    #[error("{host}:{port} gets a credential from both {first} and {second}; keep one of them")]
    ConflictingCredentials {
        /// The host.
        host: String,
        /// The port.
        port: u16,
        /// Where the first came from.
        first: String,
        /// Where the second came from.
        second: String,
    },
    /// Neither a socket nor a TCP address to listen on.
    #[error("nothing to listen on; give a Unix socket path (--socket) or --listen 127.0.0.1:PORT")]
    NoListener,
    /// `--listen` names a non-loopback address.
    #[error(
        "--listen {0}: only loopback addresses (127.0.0.1, [::1]) are allowed; the Unix socket is \
         the way to reach the proxy from a container"
    )]
    NotLoopback(SocketAddr),
    /// Something other than a socket exists at the socket path.
    #[error("{0} exists and is not a socket; remove it or choose another --socket path")]
    NotASocket(PathBuf),
    /// Binding, chmod or chown of a listener failed.
    #[error("{what} {target}: {source}")]
    Listener {
        /// What was being done (`bind`, `chmod`, `chown`).
        what: &'static str,
        /// The socket path or address.
        target: String,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// A `--allow-private` host name did not resolve at start.
    #[error("--allow-private {host}: cannot resolve it ({reason}); use an IP address or fix DNS")]
    ResolvePrivate {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The upstream HTTP client could not be built.
    #[error("cannot build the upstream HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Why one request was not forwarded (or failed upstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The request cannot be understood (no Host, userinfo, bad target).
    BadRequest(String),
    /// The upstream is not on the allowlist.
    NotAllowed {
        /// Host as normalised.
        host: String,
        /// Port.
        port: u16,
    },
    /// The request's scheme differs from the allowlist entry's.
    SchemeMismatch {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// The entry's scheme.
        allowed: &'static str,
    },
    /// The network guard refused the upstream's address.
    Guard(Refusal),
    /// The upstream could not be reached (connect, TLS, protocol).
    Unreachable(String),
    /// The upstream did not answer in time.
    Timeout(String),
}

impl Failure {
    /// The HTTP status for this failure.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::NotAllowed { .. } | Failure::SchemeMismatch { .. } | Failure::Guard(_) => {
                StatusCode::FORBIDDEN
            }
            Failure::Unreachable(_) => StatusCode::BAD_GATEWAY,
            Failure::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Whether this is a policy refusal (as opposed to an error).
    pub(crate) fn is_refusal(&self) -> bool {
        self.status() == StatusCode::FORBIDDEN
    }

    /// The message the runtime shows its user.
    pub(crate) fn message(&self) -> String {
        let text = match self {
            Failure::BadRequest(why) => format!("bad request: {why}"),
            Failure::NotAllowed { host, port } => {
                let flag = if *port == 443 {
                    host.clone()
                } else {
                    format!("{host}:{port}")
                };
                format!(
                    "{host}:{port} is not on the proxy's allowlist; add it with --allow {flag} or \
                     to perstack.toml"
                )
            }
            Failure::SchemeMismatch {
                host,
                port,
                allowed,
            } => format!("{host}:{port} is allowed over {allowed} only"),
            Failure::Guard(refusal) => format!(
                "network guard refused the upstream: {refusal}; a local or private server must be \
                 given to the proxy with --allow-private http://HOST:PORT"
            ),
            Failure::Unreachable(why) => format!("upstream unreachable: {why}"),
            Failure::Timeout(why) => format!("upstream timed out: {why}"),
        };
        format!("perstack proxy: {text}")
    }

    /// The response sent to the client: status, `x-perstack-proxy` and the JSON error body.
    pub(crate) fn into_response(self) -> Response<ProxyBody> {
        let (kind, marker) = if self.is_refusal() {
            ("perstack_proxy_refused", "refused")
        } else {
            ("perstack_proxy_error", "error")
        };
        let body = serde_json::json!({"error": {"type": kind, "message": self.message()}});
        let mut response = Response::new(
            Full::new(Bytes::from(body.to_string()))
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        headers.insert("x-perstack-proxy", header::HeaderValue::from_static(marker));
        // After a refused CONNECT the client may already be sending TLS bytes; never reuse.
        headers.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        response
    }
}
