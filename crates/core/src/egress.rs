//! The egress route: every HTTP request the runtime itself makes (provider generations,
//! remote MCP skills) goes to `perstack proxy` over a Unix socket instead of the network.
//!
//! The wire form is plain HTTP/1.1 on the socket with the upstream named by the `Host`
//! header, always with an explicit port: `https://api.anthropic.com/v1/messages` is sent
//! as `http://api.anthropic.com:443/v1/messages`. The proxy, outside the sandbox, decides
//! the upstream scheme from its own allowlist, adds the credential and connects; the
//! runtime needs no key and no DNS.

use std::path::{Path, PathBuf};

use url::Url;

use crate::error::CoreError;

/// Where the runtime's HTTP requests go when they must not reach the network directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    socket: PathBuf,
}

impl Egress {
    /// Parses `unix:///absolute/path` (the form of `--egress` and `PERSTACK_EGRESS`).
    pub fn parse(value: &str) -> Result<Egress, CoreError> {
        let bad = |reason: &str| CoreError::InvalidEgress {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let rest = value
            .trim()
            .strip_prefix("unix://")
            .ok_or_else(|| bad("only unix:// sockets are supported"))?;
        if rest.is_empty() {
            return Err(bad("no socket path"));
        }
        let socket = PathBuf::from(rest);
        if !socket.is_absolute() {
            return Err(bad(
                "the socket path must be absolute (three slashes: unix:///run/perstack/egress.sock)",
            ));
        }
        if socket.to_str().is_some_and(|s| s.ends_with('/')) {
            return Err(bad("the socket path names a folder"));
        }
        Ok(Egress { socket })
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The URL to send over the socket for `url`: scheme `http`, the same host, the port
    /// made explicit (443 for https; http's port 80 stays implicit, as the URL type
    /// normalises it away), path and query unchanged.
    pub fn route(&self, url: &Url) -> Result<Url, CoreError> {
        let bad = |reason: &str| CoreError::InvalidEgress {
            value: url.to_string(),
            reason: reason.to_string(),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("only http and https URLs can go through the proxy"));
        }
        let host = url.host_str().ok_or_else(|| bad("the URL has no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| bad("the URL has no port"))?;
        let mut routed = Url::parse(&format!("http://{host}:{port}/"))
            .map_err(|_| bad("the host cannot be written as an http URL"))?;
        routed.set_path(url.path());
        routed.set_query(url.query());
        Ok(routed)
    }
}

impl std::fmt::Display for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unix://{}", self.socket.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;

    fn egress() -> Egress {
        Egress::parse("unix:///run/perstack/egress.sock").unwrap()
    }

    fn routed(url: &str) -> String {
        egress()
            .route(&Url::parse(url).unwrap())
            .unwrap()
            .to_string()
    }

    #[test]
    fn parses_absolute_unix_sockets_only() {
        assert_eq!(egress().socket(), Path::new("/run/perstack/egress.sock"));
        assert_eq!(egress().to_string(), "unix:///run/perstack/egress.sock");
        for bad in [
            "/run/x.sock",
            "unix://run/x.sock",
            "unix://",
            "http://127.0.0.1:8080",
            "unix:///run/",
        ] {
            let err = Egress::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad.trim()), "{err}");
        }
    }

    #[test]
    fn routes_keep_host_path_and_query_and_make_the_port_explicit() {
        assert_eq!(
            routed("https://api.anthropic.com/v1/messages"),
            "http://api.anthropic.com:443/v1/messages"
        );
        assert_eq!(
            routed("https://x.openai.azure.com/openai/v1/chat/completions?api-version=v1"),
            "http://x.openai.azure.com:443/openai/v1/chat/completions?api-version=v1"
        );
        assert_eq!(
            routed("http://127.0.0.1:8080/v1/chat/completions"),
            "http://127.0.0.1:8080/v1/chat/completions"
        );
        // The URL type drops http's default port, so Host is then bare: the proxy reads
        // a bare Host as the http upstream on port 80 when it has one, else https on 443.
        assert_eq!(routed("http://example.com/a"), "http://example.com/a");
        assert_eq!(routed("https://[::1]:9/mcp"), "http://[::1]:9/mcp");
        assert!(egress().route(&Url::parse("ftp://x/").unwrap()).is_err());
    }

    proptest! {
        /// Whatever the URL, the route names the same host and port, so the proxy's
        /// allowlist decision is about the host the runtime meant.
        #[test]
        fn route_preserves_host_and_port(
            host in "[a-z]{1,10}(\\.[a-z]{1,8}){0,3}",
            port in proptest::option::of(1u16..),
            tls in any::<bool>(),
            path in "(/[a-zA-Z0-9._~-]{0,8}){0,4}",
        ) {
            let scheme = if tls { "https" } else { "http" };
            let port_part = port.map(|p| format!(":{p}")).unwrap_or_default();
            let url = Url::parse(&format!("{scheme}://{host}{port_part}{path}")).unwrap();
            let out = egress().route(&url).unwrap();
            prop_assert_eq!(out.scheme(), "http");
            prop_assert_eq!(out.host_str(), url.host_str());
            prop_assert_eq!(out.port_or_known_default(), url.port_or_known_default());
            prop_assert_eq!(out.path(), url.path());
        }
    }
}
