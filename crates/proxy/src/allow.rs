//! The allowlist looked up per request: exact `host:port` routes, then `allowedDomains` rules
//! (https on 443 only).

use std::collections::HashMap;

use perstack_sandbox::net::DomainRule;

use crate::config::{Credential, Route, Scheme};

/// What an allowed upstream gets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Allowed<'a> {
    /// The scheme to use upstream.
    pub scheme: Scheme,
    /// The credential to add.
    pub credential: Option<&'a Credential>,
    /// Whether it was given with `--allow-private`.
    pub private: bool,
}

/// Routes by `(host, port)`, plus domain rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct Allowlist {
    routes: HashMap<(String, u16), Route>,
    domains: Vec<DomainRule>,
}

impl Allowlist {
    /// Indexes `routes` (later duplicates win) and keeps `domains`.
    pub(crate) fn new(routes: &[Route], domains: &[DomainRule]) -> Self {
        Allowlist {
            routes: routes
                .iter()
                .map(|r| ((r.host.clone(), r.port), r.clone()))
                .collect(),
            domains: domains.to_vec(),
        }
    }

    /// The entry for a normalised `host` and `port`, if any.
    pub(crate) fn lookup(&self, host: &str, port: u16) -> Option<Allowed<'_>> {
        if let Some(r) = self.routes.get(&(host.to_string(), port)) {
            return Some(Allowed {
                scheme: r.scheme,
                credential: r.credential.as_ref(),
                private: r.private,
            });
        }
        (port == 443 && self.domains.iter().any(|d| d.matches(host))).then_some(Allowed {
            scheme: Scheme::Https,
            credential: None,
            private: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn exact_routes_then_domain_rules_on_443() {
        let route = Route {
            scheme: Scheme::Http,
            host: "127.0.0.1".into(),
            port: 8080,
            credential: None,
            private: true,
            source: "--allow-private".into(),
        };
        let rules = [DomainRule::parse("*.example.com").unwrap()];
        let list = Allowlist::new(&[route], &rules);
        assert_eq!(
            list.lookup("127.0.0.1", 8080),
            Some(Allowed {
                scheme: Scheme::Http,
                credential: None,
                private: true
            })
        );
        assert_eq!(list.lookup("127.0.0.1", 8081), None);
        assert_eq!(
            list.lookup("a.example.com", 443),
            Some(Allowed {
                scheme: Scheme::Https,
                credential: None,
                private: false
            })
        );
        assert_eq!(list.lookup("a.example.com", 80), None);
        assert_eq!(list.lookup("example.com.evil", 443), None);
    }
}
