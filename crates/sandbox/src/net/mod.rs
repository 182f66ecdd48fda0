//! The network guard: a URL becomes a checked connection target or a refusal.
//!
//! http and https only, no credentials in the URL, the host resolved once and refused if ANY
//! of its addresses is not global, the connection made to the checked addresses (no second
//! resolution), redirects checked again, `allowedDomains` enforced.

mod domain;
mod http;
mod ip;
mod resolver;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

pub use domain::{DomainRule, normalise_host};
pub use http::{GuardedClient, GuardedDns, GuardedError, MAX_REDIRECTS, client_builder};
pub use ip::non_global_reason;
pub use resolver::{ResolveFuture, Resolver, StaticResolver, SystemResolver};

/// Why the guard refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The URL does not parse.
    #[error("{url:?} is not a valid URL ({reason})")]
    BadUrl {
        /// The URL.
        url: String,
        /// The parser's message.
        reason: String,
    },
    /// Only http and https are allowed.
    #[error("{url}: scheme \"{scheme}\" is not allowed (http and https only)")]
    Scheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The URL carries a user name or password.
    #[error("{url}: credentials in URLs are not allowed")]
    Credentials {
        /// The URL (credentials removed).
        url: String,
    },
    /// The host is not in `allowedDomains`.
    #[error("{host} is not in allowedDomains")]
    NotAllowedDomain {
        /// The host.
        host: String,
    },
    /// An address of the host is not global.
    #[error("{host} resolves to {ip}, which is {reason}")]
    NonGlobal {
        /// The host.
        host: String,
        /// The offending address.
        ip: IpAddr,
        /// What kind of address it is.
        reason: &'static str,
    },
    /// The host has no address or resolution failed.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// An `allowedDomains` entry is malformed.
    #[error("allowedDomains entry {entry:?}: {reason}")]
    BadAllowedDomain {
        /// The entry.
        entry: String,
        /// Why.
        reason: &'static str,
    },
    /// A loopback-only guard (a plain-http endpoint on this machine) met another address.
    #[error(
        "{host} resolves to {ip}, which is not a loopback address; a plain-http endpoint must stay on this machine"
    )]
    NotLoopback {
        /// The host.
        host: String,
        /// The offending address.
        ip: IpAddr,
    },
    /// A redirect chain is too long.
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
}

/// What the guard allows.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    /// When set, only these hosts (IP literals are then refused).
    pub allowed_domains: Option<Vec<DomainRule>>,
    /// Non-global addresses an operator explicitly allows (e.g. a model server on loopback).
    pub allowed_addresses: Vec<IpAddr>,
}

impl NetworkPolicy {
    /// A policy with `allowedDomains` parsed from config entries.
    pub fn with_allowed_domains(entries: &[String]) -> Result<Self, Refusal> {
        let rules = entries
            .iter()
            .map(|e| DomainRule::parse(e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NetworkPolicy {
            allowed_domains: Some(rules),
            allowed_addresses: Vec::new(),
        })
    }
}

/// A URL that passed every check, with the addresses to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTarget {
    /// The URL (normalised by the parser).
    pub url: Url,
    /// The host in ASCII form.
    pub host: String,
    /// The port (explicit or the scheme's default).
    pub port: u16,
    /// The checked addresses; connect to these and only these.
    pub addrs: Vec<SocketAddr>,
}

/// The parts of a URL the guard looks at, before any resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticCheck {
    /// An IP literal that passed.
    Address(IpAddr),
    /// A name still to be resolved and checked.
    Name(String),
}

/// Checks URLs and host names against a [`NetworkPolicy`].
#[derive(Debug, Clone)]
pub struct NetworkGuard {
    policy: NetworkPolicy,
    resolver: Arc<dyn Resolver>,
    loopback_only: bool,
}

impl NetworkGuard {
    /// A guard resolving names with `resolver`.
    pub fn new(policy: NetworkPolicy, resolver: Arc<dyn Resolver>) -> Self {
        NetworkGuard {
            policy,
            resolver,
            loopback_only: false,
        }
    }

    /// The same guard letting through loopback addresses only (127.0.0.0/8, ::1; the rule
    /// of [`perstack_core::loopback`]) instead of global ones: for an endpoint on this
    /// machine, which may be plain http. A name must resolve to loopback addresses only.
    #[must_use]
    pub fn loopback_only(mut self) -> Self {
        self.loopback_only = true;
        self
    }

    /// A guard using the system resolver.
    pub fn system(policy: NetworkPolicy) -> Self {
        Self::new(policy, Arc::new(SystemResolver))
    }

    /// The policy.
    pub fn policy(&self) -> &NetworkPolicy {
        &self.policy
    }

    /// Parses and fully checks `url`, resolving its host once.
    pub async fn check_url(&self, url: &str) -> Result<CheckedTarget, Refusal> {
        let parsed = Url::parse(url).map_err(|e| Refusal::BadUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let (host, addrs) = match self.check_static(&parsed)? {
            StaticCheck::Address(ip) => (ip.to_string(), vec![SocketAddr::new(ip, port)]),
            StaticCheck::Name(name) => {
                let addrs = self.check_host(&name, port).await?;
                (name, addrs)
            }
        };
        Ok(CheckedTarget {
            url: parsed,
            host,
            port,
            addrs,
        })
    }

    /// Every check that needs no resolution: scheme, credentials, allowlist, IP literals.
    pub fn check_static(&self, url: &Url) -> Result<StaticCheck, Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme {
                url: url.to_string(),
                scheme: url.scheme().to_string(),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            let mut clean = url.clone();
            let _ = clean.set_username("");
            let _ = clean.set_password(None);
            return Err(Refusal::Credentials {
                url: clean.to_string(),
            });
        }
        match url.host() {
            None => Err(Refusal::BadUrl {
                url: url.to_string(),
                reason: "no host".to_string(),
            }),
            Some(Host::Ipv4(ip)) => self.check_literal(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_literal(IpAddr::V6(ip)),
            Some(Host::Domain(d)) => {
                let name = normalise_host(d).ok_or_else(|| Refusal::BadUrl {
                    url: url.to_string(),
                    reason: "invalid host".to_string(),
                })?;
                self.check_domain(&name)?;
                Ok(StaticCheck::Name(name))
            }
        }
    }

    fn check_literal(&self, ip: IpAddr) -> Result<StaticCheck, Refusal> {
        if self.policy.allowed_domains.is_some() && !self.policy.allowed_addresses.contains(&ip) {
            return Err(Refusal::NotAllowedDomain {
                host: ip.to_string(),
            });
        }
        self.check_ip(&ip.to_string(), ip)?;
        Ok(StaticCheck::Address(ip))
    }

    fn check_domain(&self, name: &str) -> Result<(), Refusal> {
        match &self.policy.allowed_domains {
            Some(rules) if !rules.iter().any(|r| r.matches(name)) => {
                Err(Refusal::NotAllowedDomain {
                    host: name.to_string(),
                })
            }
            Some(_) | None => Ok(()),
        }
    }

    /// Refuses a non-global address unless the operator allowed it (a loopback-only guard:
    /// any address that is not loopback).
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        if self.policy.allowed_addresses.contains(&ip) {
            return Ok(());
        }
        if self.loopback_only {
            if perstack_core::loopback::is_loopback_ip(ip) {
                return Ok(());
            }
            return Err(Refusal::NotLoopback {
                host: host.to_string(),
                ip,
            });
        }
        match non_global_reason(ip) {
            Some(reason) => Err(Refusal::NonGlobal {
                host: host.to_string(),
                ip,
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Resolves `host` (a name, or an IP literal) and checks every address.
    pub async fn check_host(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        let name = normalise_host(host).ok_or_else(|| Refusal::Resolve {
            host: host.to_string(),
            reason: "invalid host name".to_string(),
        })?;
        if let Ok(ip) = name.parse::<IpAddr>() {
            self.check_literal(ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        self.check_domain(&name)?;
        let ips = self
            .resolver
            .lookup(&name)
            .await
            .map_err(|e| Refusal::Resolve {
                host: name.clone(),
                reason: e.to_string(),
            })?;
        if ips.is_empty() {
            return Err(Refusal::Resolve {
                host: name,
                reason: "no address".to_string(),
            });
        }
        // ANY bad address refuses the host: a rebinding name mixes a good and a bad one.
        for ip in &ips {
            self.check_ip(&name, *ip)?;
        }
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }
}
