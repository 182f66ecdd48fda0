//! Remote skills (`mcpSseSkill` / `mcpHttpSkill`): MCP streamable HTTP through the network
//! guard. An endpoint must be https to global addresses, or on loopback (http or https, by
//! [`perstack_core::loopback`]) and then reached on loopback addresses only. The guard
//! resolves the host, pins the connection to the checked addresses, enforces
//! `allowedDomains`, and checks every redirect again. rmcp's transport carries the
//! session id and re-initialises an expired session.

use std::sync::Arc;
use std::time::Instant;

use perstack_core::config::RemoteOAuth;
use perstack_core::loopback::{https_problem, loopback_host};
use perstack_events::RuntimeEventPayload;
use perstack_sandbox::net::client_builder;
use perstack_sandbox::{NetworkGuard, NetworkPolicy};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tokio::sync::watch;

use super::events::SkillEventSink;
use super::oauth::{Http, OAuth, OAuthClient, OAuthSettings};
use super::options::HostOptions;
use super::plan::ToolFilter;
use super::start::{Backend, Started, connect, finish};
use super::tasks::{TapHttp, TaskSupport};
use crate::error::SkillError;

/// A remote skill as planned.
pub(crate) struct RemoteSpec {
    /// Skill name.
    pub name: String,
    /// Endpoint URL.
    pub endpoint: String,
    /// Its pick/omit.
    pub filter: ToolFilter,
    /// Domains the connection may reach.
    pub allowed_domains: Option<Vec<String>>,
    /// Its `oauth` table.
    pub oauth: Option<RemoteOAuth>,
}

/// Connects to a remote skill.
pub(crate) async fn start_remote(
    spec: RemoteSpec,
    options: &HostOptions,
    events: Arc<dyn SkillEventSink>,
) -> Result<Started, SkillError> {
    let RemoteSpec {
        name,
        endpoint,
        filter,
        allowed_domains,
        oauth,
    } = spec;
    let refuse = |reason: String| SkillError::Startup {
        skill: name.clone(),
        reason,
    };
    let url = url_of(&endpoint).map_err(&refuse)?;
    if let Some(problem) = https_problem(&url, &format!("endpoint {endpoint}")) {
        return Err(refuse(problem));
    }
    let policy = match &allowed_domains {
        Some(entries) => NetworkPolicy::with_allowed_domains(entries)
            .map_err(|r| refuse(format!("network access refused: {r}")))?,
        None => NetworkPolicy::default(),
    };
    // An endpoint on loopback (the one rule `perstack validate` applies) may be plain http
    // and is reached on loopback only; any other must be https to global addresses.
    let on_loopback = loopback_host(&url).is_some();
    let mut guard = NetworkGuard::system(policy);
    if on_loopback {
        guard = guard.loopback_only();
    }
    let guard = Arc::new(guard);
    // Loopback is not egress: it is this sandbox's own interface, which the proxy outside
    // cannot reach, so a loopback endpoint is connected to here even with `--egress`.
    let egress = options.egress.as_ref().filter(|_| !on_loopback);
    let t0 = Instant::now();
    match egress {
        // The proxy resolves and checks the host against its own allowlist and the same
        // guard; here only what needs no resolution (the sandbox has no DNS).
        Some(_) => guard
            .check_static(&url)
            .map(|_| ())
            .map_err(|r| refuse(format!("network access refused: {r}")))?,
        None => guard
            .check_url(url.as_str())
            .await
            .map(|_| ())
            .map_err(|r| refuse(format!("network access refused: {r}")))?,
    }
    // Only now: the guard refuses URLs that carry credentials, so none reach an event.
    events.emit(RuntimeEventPayload::SkillStarting {
        skill_name: name.clone(),
        command: endpoint.clone(),
        args: Vec::new(),
    });
    let mut builder = client_builder(guard);
    // The parsed URL, not the raw text: the host checked is the host connected to.
    let mut uri = url.to_string();
    if let Some(egress) = egress {
        builder = builder.unix_socket(egress.socket());
        uri = egress
            .route(&url)
            .map_err(|e| refuse(e.to_string()))?
            .to_string();
    }
    let client = builder
        .build()
        .map_err(|e| refuse(format!("cannot build the HTTP client: {e}")))?;
    let config =
        StreamableHttpClientTransportConfig::with_uri(uri.as_str()).reinit_on_expired_session(true);
    let (gone_tx, gone_rx) = watch::channel(false);
    let spawned = t0.elapsed();
    // The server's SSE responses show which tools can only be called as tasks.
    let tasks = TaskSupport::default();
    let connected = match oauth {
        None => {
            let client = TapHttp::new(client, tasks.clone());
            let transport = StreamableHttpClientTransport::with_client(client, config);
            connect(&name, transport, gone_rx, None, &filter, options, &tasks).await
        }
        Some(table) => {
            let settings = OAuthSettings::from_config(&table, options.env.as_ref())
                .map_err(|e| refuse(e.clone()))?;
            let http = Http::new(client.clone(), egress.cloned());
            let auth = OAuth::new(
                url.clone(),
                settings,
                options.authorization_agent.clone(),
                http,
            )
            .map_err(&refuse)?;
            let client = TapHttp::new(OAuthClient::new(client, Arc::new(auth)), tasks.clone());
            let transport = StreamableHttpClientTransport::with_client(client, config);
            connect(&name, transport, gone_rx, None, &filter, options, &tasks).await
        }
    };
    let backend = Backend::Remote { _gone: gone_tx };
    finish(name, connected, backend, t0, None, spawned, options, events).await
}

fn url_of(endpoint: &str) -> Result<url::Url, String> {
    url::Url::parse(endpoint).map_err(|e| format!("endpoint {endpoint:?} is not a URL: {e}"))
}
