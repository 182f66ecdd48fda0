//! Remote skills (`mcpSseSkill` / `mcpHttpSkill`): MCP streamable HTTP through the network
//! guard. Production endpoints must be public https; the guard resolves the host, refuses
//! non-global addresses and pins the connection to the checked ones, enforces
//! `allowedDomains`, and checks every redirect again. rmcp's transport carries the
//! session id and re-initialises an expired session.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use perstack_core::config::RemoteOAuth;
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
    let loopback_allowed = options.loopback_remote_skills_for_tests;
    let url = url_of(&endpoint).map_err(&refuse)?;
    let test_loopback = loopback_allowed && url.scheme() == "http" && is_loopback_literal(&url);
    if url.scheme() != "https" && !test_loopback {
        return Err(refuse(format!(
            "endpoint {endpoint} must use https (remote skills connect to public https only)"
        )));
    }
    let mut policy = match &allowed_domains {
        Some(entries) => NetworkPolicy::with_allowed_domains(entries)
            .map_err(|r| refuse(format!("network access refused: {r}")))?,
        None => NetworkPolicy::default(),
    };
    if loopback_allowed {
        policy.allowed_addresses = vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
    }
    let guard = Arc::new(NetworkGuard::system(policy));
    let t0 = Instant::now();
    match &options.egress {
        // The proxy resolves and checks the host against its own allowlist and the same
        // guard; here only what needs no resolution (the sandbox has no DNS).
        Some(_) => guard
            .check_static(&url)
            .map(|_| ())
            .map_err(|r| refuse(format!("network access refused: {r}")))?,
        None => guard
            .check_url(&endpoint)
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
    let mut uri = endpoint.clone();
    if let Some(egress) = &options.egress {
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
    let connected = match oauth {
        None => {
            let transport = StreamableHttpClientTransport::with_client(client, config);
            connect(&name, transport, gone_rx, &filter, options).await
        }
        Some(table) => {
            let settings = OAuthSettings::from_config(&table, options.env.as_ref())
                .map_err(|e| refuse(e.clone()))?;
            let http = Http::new(client.clone(), options.egress.clone());
            let auth = OAuth::new(
                url.clone(),
                settings,
                options.authorization_agent.clone(),
                http,
            )
            .map_err(&refuse)?;
            let client = OAuthClient::new(client, Arc::new(auth));
            let transport = StreamableHttpClientTransport::with_client(client, config);
            connect(&name, transport, gone_rx, &filter, options).await
        }
    };
    let backend = Backend::Remote { _gone: gone_tx };
    finish(name, connected, backend, t0, None, spawned, options, events).await
}

fn url_of(endpoint: &str) -> Result<url::Url, String> {
    url::Url::parse(endpoint).map_err(|e| format!("endpoint {endpoint:?} is not a URL: {e}"))
}

fn is_loopback_literal(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(_)) | None => false,
    }
}
