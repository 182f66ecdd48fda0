//! `allowedDomains`: `example.com` (that host), `*.example.com` (the domain and every host
//! below it, as Perstack's proxy allowlist treats it). Trailing dots are ignored, names are
//! compared case-insensitively in their punycode (ASCII) form.

use crate::net::Refusal;

/// One allowlist entry, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainRule {
    /// Exactly this host.
    Exact(String),
    /// This domain and all its subdomains.
    Suffix(String),
}

impl DomainRule {
    /// Parses an `allowedDomains` entry.
    pub fn parse(entry: &str) -> Result<Self, Refusal> {
        let bad = |why: &'static str| Refusal::BadAllowedDomain {
            entry: entry.to_string(),
            reason: why,
        };
        let trimmed = entry.trim();
        let (wild, name) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if name.contains('*') {
            return Err(bad("a wildcard is only allowed as a leading \"*.\""));
        }
        let ascii = normalise_host(name).ok_or_else(|| bad("not a valid domain name"))?;
        if !ascii.contains('.') && wild {
            return Err(bad(
                "a wildcard must cover a domain with at least two labels",
            ));
        }
        if ascii.parse::<std::net::IpAddr>().is_ok() {
            return Err(bad("IP addresses are not domains"));
        }
        Ok(if wild {
            DomainRule::Suffix(ascii)
        } else {
            DomainRule::Exact(ascii)
        })
    }

    /// Whether `host` (already normalised) is allowed by this rule.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            DomainRule::Exact(d) => host == d,
            DomainRule::Suffix(d) => {
                host == d
                    || (host.len() > d.len()
                        && host.ends_with(d.as_str())
                        && host.as_bytes()[host.len() - d.len() - 1] == b'.')
            }
        }
    }
}

/// Lowercase punycode form of a host name without a trailing dot, or `None` if invalid.
pub fn normalise_host(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.ends_with('.') {
        return None;
    }
    match url::Host::parse(name).ok()? {
        url::Host::Domain(d) => Some(d.to_ascii_lowercase()),
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_wildcard() {
        let exact = DomainRule::parse("Example.COM.").unwrap();
        assert!(exact.matches("example.com"));
        assert!(!exact.matches("api.example.com"));
        let wild = DomainRule::parse("*.example.com").unwrap();
        assert!(wild.matches("example.com"));
        assert!(wild.matches("a.b.example.com"));
        assert!(!wild.matches("evilexample.com"));
        assert!(!wild.matches("example.com.evil.net"));
    }

    #[test]
    fn punycode() {
        let rule = DomainRule::parse("bücher.example").unwrap();
        assert_eq!(rule, DomainRule::Exact("xn--bcher-kva.example".to_string()));
    }

    #[test]
    fn bad_entries() {
        for e in ["*", "*.com", "a.*.com", "", "10.0.0.1", "exa mple.com"] {
            assert!(DomainRule::parse(e).is_err(), "{e}");
        }
    }
}
