//! What the proxy allows and which credential each upstream gets: [`ProxyConfig`], built in code
//! or from an operator's `perstack.toml`, the proxy's environment and flags
//! ([`ProxyConfig::from_sources`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use perstack_core::config::{PerstackConfig, ProviderName, SkillConfig};
use perstack_core::loopback::loopback_host;
use perstack_providers::{AuthStyle, EnvLookup, KeySource, ProviderSpec, Secret};
use perstack_sandbox::net::{DomainRule, Resolver, SystemResolver, normalise_host};
use url::Url;

use crate::access::{AccessSink, StdoutSink};
use crate::error::ProxyError;

/// The scheme the proxy speaks to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (only for `--allow-private` upstreams and http base URLs in the config).
    Http,
    /// HTTPS.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// A credential the proxy adds to requests for one upstream.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// In a header of its own (`x-api-key`, `api-key`, `x-goog-api-key`).
    Header {
        /// The header name, lowercase.
        name: String,
        /// The key.
        value: Secret,
    },
    /// As `Authorization: Bearer <token>`.
    Bearer(Secret),
}

impl Credential {
    /// The header the credential travels in (what the access log shows).
    pub fn header_name(&self) -> &str {
        match self {
            Credential::Header { name, .. } => name,
            Credential::Bearer(_) => "authorization",
        }
    }

    /// The header value (the secret itself; never log it).
    pub fn header_value(&self) -> String {
        match self {
            Credential::Header { value, .. } => value.expose().to_string(),
            Credential::Bearer(token) => format!("Bearer {}", token.expose()),
        }
    }
}

/// One allowed upstream, `host:port`.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// How the proxy connects to it.
    pub scheme: Scheme,
    /// Host, normalised (lowercase ASCII, no trailing dot; IP literals without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// The credential added to its requests.
    pub credential: Option<Credential>,
    /// Given with `--allow-private`: its addresses pass the guard, and log lines say so.
    pub private: bool,
    /// Where the entry came from (`provider anthropic`, `--allow`, `skill search`), for
    /// messages.
    pub source: String,
}

/// The Unix socket the proxy listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketOptions {
    /// Its path; a stale socket there is replaced.
    pub path: PathBuf,
    /// Permission bits (default 0o600).
    pub mode: u32,
    /// Group to give it (numeric gid), so a container user in that group can connect.
    pub group: Option<u32>,
}

/// Where the allowlist comes from besides `perstack.toml`: the CLI's flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowOptions {
    /// More providers to serve (`--provider`), besides the config's.
    pub providers: Vec<ProviderName>,
    /// Extra https hosts, `HOST[:PORT]` (`--allow`).
    pub allow: Vec<String>,
    /// Private or plain-http upstreams, `http://127.0.0.1:8080` (`--allow-private`).
    pub allow_private: Vec<String>,
    /// `HOST=ENV_VAR`: send `Authorization: Bearer $ENV_VAR` to that host (`--bearer`).
    pub bearer: Vec<String>,
    /// Serve a provider whose key is not set, keyless, instead of refusing to start.
    pub no_credentials_ok: bool,
}

/// Everything the proxy needs; build it with [`ProxyConfig::from_sources`] or field by field.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Allowed upstreams with their credentials.
    pub routes: Vec<Route>,
    /// `allowedDomains` of skills: https on port 443 (and CONNECT to it), no credential.
    pub domains: Vec<DomainRule>,
    /// The Unix socket to listen on.
    pub socket: Option<SocketOptions>,
    /// A loopback TCP address to listen on as well.
    pub listen: Option<SocketAddr>,
    /// Resolves upstream names for the network guard.
    pub resolver: Arc<dyn Resolver>,
    /// Where access records go (stdout by default).
    pub access_log: Arc<dyn AccessSink>,
    /// Longest wait for an upstream connection.
    pub connect_timeout: Duration,
    /// Longest silence from an upstream while reading its response.
    pub read_timeout: Duration,
    /// How long in-flight requests may finish after shutdown is asked for.
    pub shutdown_grace: Duration,
    /// Start-up warnings (private upstreams, http base URLs, keyless providers).
    pub warnings: Vec<String>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            routes: Vec::new(),
            domains: Vec::new(),
            socket: None,
            listen: None,
            resolver: Arc::new(SystemResolver),
            access_log: Arc::new(StdoutSink),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(5),
            warnings: Vec::new(),
        }
    }
}

impl ProxyConfig {
    /// The allowlist from `config` (its provider, remote skills and `allowedDomains`), the
    /// flags in `options`, and credentials from `env` (the proxy's environment and env files).
    pub fn from_sources(
        config: Option<&PerstackConfig>,
        options: &AllowOptions,
        env: &dyn EnvLookup,
    ) -> Result<ProxyConfig, ProxyError> {
        let mut b = Builder::default();
        for raw in &options.allow_private {
            b.add_private(raw)?;
        }
        let mut providers: Vec<(ProviderName, Option<_>)> = Vec::new();
        if let Some(c) = config {
            let setting = c.provider.as_ref().and_then(|p| p.setting.as_ref());
            providers.push((c.provider_name(), setting));
        }
        for p in &options.providers {
            if !providers.iter().any(|(name, _)| name == p) {
                providers.push((*p, None));
            }
        }
        for (name, setting) in providers {
            let spec = match ProviderSpec::from_config(name, setting, env) {
                Ok(spec) => spec,
                Err(_) if options.no_credentials_ok => {
                    b.warnings.push(format!(
                        "provider {name}: no API key in the proxy's environment; its requests \
                         go upstream keyless (--no-credentials-ok)"
                    ));
                    ProviderSpec::from_config_with(name, setting, env, KeySource::HeldByProxy)
                        .map_err(|source| ProxyError::Provider { source })?
                }
                Err(source) => return Err(ProxyError::Provider { source }),
            };
            b.add_provider(&spec)?;
        }
        if let Some(c) = config {
            for (expert, e) in &c.experts {
                for (skill, s) in e.skills.iter().flatten() {
                    b.add_skill(expert, skill, s)?;
                }
            }
        }
        for raw in &options.allow {
            b.add_allow(raw)?;
        }
        for raw in &options.bearer {
            b.add_bearer(raw, env)?;
        }
        Ok(ProxyConfig {
            routes: b.routes.into_values().collect(),
            domains: b.domains,
            warnings: b.warnings,
            ..ProxyConfig::default()
        })
    }

    /// One line for the operator: what is allowed and which header each upstream gets.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .routes
            .iter()
            .map(|r| {
                let mut s = format!("{}://{}:{}", r.scheme.as_str(), url_host(&r.host), r.port);
                if let Some(c) = &r.credential {
                    s.push_str(&format!(" (+{})", c.header_name()));
                }
                if r.private {
                    s.push_str(" [private]");
                }
                s
            })
            .collect();
        parts.extend(self.domains.iter().map(|d| match d {
            DomainRule::Exact(h) => format!("https://{h}:443"),
            DomainRule::Suffix(h) => format!("https://*.{h}:443"),
        }));
        if parts.is_empty() {
            "perstack proxy: nothing is allowed (no provider, skill or --allow entry)".to_string()
        } else {
            format!("perstack proxy: allowing {}", parts.join(", "))
        }
    }
}

/// `host` as it appears in a URL (IPv6 literals in brackets).
pub(crate) fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[derive(Default)]
struct Builder {
    routes: BTreeMap<(String, u16), Route>,
    domains: Vec<DomainRule>,
    warnings: Vec<String>,
}

impl Builder {
    /// Adds or merges a route: a private entry makes it private (and decides the scheme), a
    /// credential is added unless another one is already there.
    fn add(&mut self, route: Route) -> Result<(), ProxyError> {
        let key = (route.host.clone(), route.port);
        let Some(existing) = self.routes.get_mut(&key) else {
            self.routes.insert(key, route);
            return Ok(());
        };
        if route.private {
            existing.private = true;
            existing.scheme = route.scheme;
        }
        if let Some(cred) = route.credential {
            if existing.credential.is_some() {
                return Err(ProxyError::ConflictingCredentials {
                    host: route.host,
                    port: route.port,
                    first: existing.source.clone(),
                    second: route.source,
                });
            }
            existing.credential = Some(cred);
            existing.source = route.source;
        }
        Ok(())
    }

    fn add_private(&mut self, raw: &str) -> Result<(), ProxyError> {
        let bad = |reason: &str| ProxyError::BadEntry {
            flag: "--allow-private",
            entry: raw.to_string(),
            reason: format!("{reason}; write it as a URL, e.g. http://127.0.0.1:8080"),
        };
        let url = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        let (scheme, host, port) = url_parts(&url).map_err(|r| bad(&r))?;
        if url.path() != "/" || url.query().is_some() {
            return Err(bad("only scheme, host and port are used"));
        }
        self.warnings.push(format!(
            "--allow-private {}://{}:{port}: the network guard lets this private upstream through; \
             every access to it is logged with \"privateUpstream\": true",
            scheme.as_str(),
            url_host(&host)
        ));
        self.add(Route {
            scheme,
            host,
            port,
            credential: None,
            private: true,
            source: "--allow-private".into(),
        })
    }

    fn add_provider(&mut self, spec: &ProviderSpec) -> Result<(), ProxyError> {
        let source = format!("provider {}", spec.name);
        let (scheme, host, port) =
            url_parts(&spec.base_url).map_err(|reason| ProxyError::BadEntry {
                flag: "baseUrl",
                entry: spec.base_url.to_string(),
                reason,
            })?;
        let credential = spec.api_key.clone().map(|value| match &spec.auth {
            AuthStyle::Header(name) => Credential::Header {
                name: name.to_ascii_lowercase(),
                value,
            },
            AuthStyle::Bearer => Credential::Bearer(value),
        });
        let covered = self
            .routes
            .get(&(host.clone(), port))
            .is_some_and(|r| r.private);
        if scheme == Scheme::Http && !covered {
            self.warnings.push(format!(
                "{source}: base URL {} is plain http; if it is a local or private server the \
                 network guard refuses it unless the proxy is also given --allow-private {}",
                spec.base_url,
                spec.base_url.origin().ascii_serialization()
            ));
        }
        self.add(Route {
            scheme,
            host,
            port,
            credential,
            private: false,
            source,
        })
    }

    fn add_skill(
        &mut self,
        expert: &str,
        name: &str,
        skill: &SkillConfig,
    ) -> Result<(), ProxyError> {
        let domains = match skill {
            SkillConfig::McpSseSkill(remote) => {
                let url = Url::parse(&remote.endpoint).map_err(|e| ProxyError::BadEntry {
                    flag: "endpoint",
                    entry: remote.endpoint.clone(),
                    reason: e.to_string(),
                })?;
                // Loopback is the sandbox's own interface, not egress: the runtime connects
                // to such an endpoint itself, never through the proxy.
                if loopback_host(&url).is_some() {
                    self.warnings.push(format!(
                        "skill {name} of {expert}: endpoint {} is on loopback; the runtime \
                         connects to it directly (inside its own network namespace), not \
                         through this proxy",
                        remote.endpoint
                    ));
                    return self.add_domains(remote.allowed_domains.as_deref());
                }
                let (scheme, host, port) =
                    url_parts(&url).map_err(|reason| ProxyError::BadEntry {
                        flag: "endpoint",
                        entry: remote.endpoint.clone(),
                        reason,
                    })?;
                self.add(Route {
                    scheme,
                    host,
                    port,
                    credential: None,
                    private: false,
                    source: format!("skill {name} of {expert}"),
                })?;
                remote.allowed_domains.as_deref()
            }
            SkillConfig::McpStdioSkill(stdio) => stdio.allowed_domains.as_deref(),
            SkillConfig::InteractiveSkill(_) => None,
        };
        self.add_domains(domains)
    }

    fn add_domains(&mut self, domains: Option<&[String]>) -> Result<(), ProxyError> {
        for entry in domains.unwrap_or_default() {
            let rule = DomainRule::parse(entry).map_err(|e| ProxyError::BadEntry {
                flag: "allowedDomains",
                entry: entry.clone(),
                reason: e.to_string(),
            })?;
            if !self.domains.contains(&rule) {
                self.domains.push(rule);
            }
        }
        Ok(())
    }

    fn add_allow(&mut self, raw: &str) -> Result<(), ProxyError> {
        let url = Url::parse(&format!("https://{}", raw.trim())).ok();
        let parts = url
            .as_ref()
            .filter(|u| u.path() == "/" && u.username().is_empty() && u.query().is_none())
            .map(url_parts);
        let Some(Ok((scheme, host, port))) = parts else {
            return Err(ProxyError::BadEntry {
                flag: "--allow",
                entry: raw.to_string(),
                reason: "write HOST or HOST:PORT, e.g. api.example.com or api.example.com:8443"
                    .into(),
            });
        };
        self.add(Route {
            scheme,
            host,
            port,
            credential: None,
            private: false,
            source: "--allow".into(),
        })
    }

    fn add_bearer(&mut self, raw: &str, env: &dyn EnvLookup) -> Result<(), ProxyError> {
        let bad = |reason: String| ProxyError::BadEntry {
            flag: "--bearer",
            entry: raw.to_string(),
            reason,
        };
        let Some((host, var)) = raw.split_once('=') else {
            return Err(bad(
                "write HOST=ENV_VAR, e.g. mcp.example.com=MCP_TOKEN".into()
            ));
        };
        let host = normalise_host(host.trim())
            .ok_or_else(|| bad(format!("{host:?} is not a host name")))?;
        let token = env
            .var(var.trim())
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                bad(format!(
                    "{} is not set in the proxy's environment or env files",
                    var.trim()
                ))
            })?;
        let keys: Vec<(String, u16)> = self
            .routes
            .keys()
            .filter(|(h, _)| *h == host)
            .cloned()
            .collect();
        if keys.is_empty() {
            return Err(bad(format!(
                "no skill endpoint or --allow entry names {host}; add one first"
            )));
        }
        for (host, port) in keys {
            self.add(Route {
                scheme: Scheme::Https,
                host,
                port,
                credential: Some(Credential::Bearer(Secret::new(token.clone()))),
                private: false,
                source: format!("--bearer {}", var.trim()),
            })?;
        }
        Ok(())
    }
}

/// Scheme, normalised host and port of an http(s) URL without credentials.
fn url_parts(url: &Url) -> Result<(Scheme, String, u16), String> {
    let scheme = match url.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(format!("scheme must be http or https, not {other}")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => normalise_host(d).ok_or("invalid host name")?,
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("no host".into()),
    };
    let port = url.port_or_known_default().ok_or("no port")?;
    Ok((scheme, host, port))
}
