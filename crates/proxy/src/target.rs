//! Which upstream a request names (origin-form with `Host`, absolute-form, or `CONNECT`), and
//! what of the request may travel on: headers stripped, `key` query parameters removed.

use std::net::Ipv6Addr;

use hyper::header::{self, HeaderMap, HeaderName};
use hyper::{Method, Request};
use perstack_sandbox::net::normalise_host;

use crate::config::Scheme;
use crate::error::Failure;

/// How the request named its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `POST /path` with `Host: host:port` (the runtime's own requests).
    Origin,
    /// `GET http://host/path` (an `HTTP_PROXY` client); the scheme must match the entry's.
    Absolute(Scheme),
    /// `CONNECT host:port` (an `HTTPS_PROXY` client): a raw tunnel.
    Connect,
}

/// The upstream a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// How it was named.
    pub form: Form,
    /// Normalised host (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path and query with `key` parameters removed (`/` for CONNECT is empty).
    pub path: String,
}

/// Headers never forwarded: credentials the client brings (the proxy adds its own) and
/// hop-by-hop headers (RFC 9110 section 7.6.1), plus `host` (set from the upstream URL) and
/// `expect` (answered by the proxy's server).
pub(crate) const STRIPPED: [&str; 15] = [
    "authorization",
    "proxy-authorization",
    "proxy-authenticate",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "host",
];

/// The upstream named by `req`.
pub(crate) fn parse<B>(req: &Request<B>) -> Result<Target, Failure> {
    let uri = req.uri();
    if req.method() == Method::CONNECT {
        let authority = uri
            .authority()
            .ok_or_else(|| Failure::BadRequest("CONNECT needs host:port".into()))?;
        let (host, port) = split_authority(authority.as_str(), 443)?;
        return Ok(Target {
            form: Form::Connect,
            host,
            port,
            path: String::new(),
        });
    }
    let path = strip_key_param(uri.path_and_query().map_or("/", |p| p.as_str()));
    if let Some(scheme) = uri.scheme_str() {
        let (scheme, default_port) = match scheme {
            "http" => (Scheme::Http, 80),
            "https" => (Scheme::Https, 443),
            other => {
                return Err(Failure::BadRequest(format!(
                    "scheme {other:?} is not supported (http and https only)"
                )));
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| Failure::BadRequest("absolute URL without a host".into()))?;
        let (host, port) = split_authority(authority.as_str(), default_port)?;
        return Ok(Target {
            form: Form::Absolute(scheme),
            host,
            port,
            path,
        });
    }
    if !path.starts_with('/') {
        return Err(Failure::BadRequest(format!(
            "request target {uri} is not a path"
        )));
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let (Some(value), None) = (hosts.next(), hosts.next()) else {
        return Err(Failure::BadRequest(
            "exactly one Host header naming host:port is required".into(),
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| Failure::BadRequest("Host header is not ASCII".into()))?;
    let (host, port) = split_authority(value, 443)?;
    Ok(Target {
        form: Form::Origin,
        host,
        port,
        path,
    })
}

/// `host[:port]` (or `[v6][:port]`) split and normalised; no userinfo, no empty parts.
pub(crate) fn split_authority(raw: &str, default_port: u16) -> Result<(String, u16), Failure> {
    let bad = || Failure::BadRequest(format!("{raw:?} is not host or host:port"));
    if raw.contains(['@', '/', '\\', '?', '#', ' ', '%']) {
        return Err(bad());
    }
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(bad)?;
        let ip: Ipv6Addr = inside.parse().map_err(|_| bad())?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(bad)?),
        };
        (ip.to_string(), port)
    } else {
        let (name, port) = match raw.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (raw, None),
        };
        if name.contains(':') {
            return Err(bad());
        }
        (normalise_host(name).ok_or_else(bad)?, port)
    };
    let port = match port {
        None => default_port,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?
        }
        Some(_) => return Err(bad()),
    };
    Ok((host, port))
}

/// `path_and_query` without `key=` query parameters (Gemini's API key in the URL; the proxy
/// sends the key in a header instead, and access logs must never show one).
pub(crate) fn strip_key_param(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            let decoded: String = url::form_urlencoded::parse(name.as_bytes())
                .map(|(k, _)| k.into_owned())
                .collect();
            !decoded.eq_ignore_ascii_case("key")
        })
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// The request headers that may be forwarded: everything except [`STRIPPED`], `expect`, and
/// the headers the client's `Connection` header names.
pub(crate) fn forwardable(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let n = name.as_str();
        if STRIPPED.contains(&n) || n == "expect" || named.iter().any(|c| c == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// Response headers that may go back to the client (hop-by-hop ones removed).
pub(crate) fn response_headers(headers: &HeaderMap) -> HeaderMap {
    const HOP: [&str; 7] = [
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    ];
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !HOP.contains(&name.as_str()) {
            out.append(HeaderName::clone(name), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn splits_and_normalises_authorities() {
        let ok = |raw: &str| split_authority(raw, 443).ok();
        assert_eq!(
            ok("API.Anthropic.com.:443"),
            Some(("api.anthropic.com".into(), 443))
        );
        assert_eq!(
            ok("api.anthropic.com"),
            Some(("api.anthropic.com".into(), 443))
        );
        assert_eq!(
            ok("[::ffff:127.0.0.1]"),
            Some(("::ffff:127.0.0.1".into(), 443))
        );
        assert_eq!(ok("2130706433:80"), Some(("127.0.0.1".into(), 80)));
        assert_eq!(ok("0x7f.1:80"), Some(("127.0.0.1".into(), 80)));
        for bad in [
            "user@host",
            "host:",
            "host:0",
            "host:65536",
            "host:+1",
            "::1",
            "[::1",
            "",
            ":443",
            "a b",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }

    #[test]
    fn removes_key_query_parameters() {
        assert_eq!(
            strip_key_param("/v1beta/models/m:streamGenerateContent?alt=sse&key=SECRET"),
            "/v1beta/models/m:streamGenerateContent?alt=sse"
        );
        assert_eq!(strip_key_param("/x?key=SECRET"), "/x");
        assert_eq!(strip_key_param("/x?k%65y=SECRET&a=1&KEY=2"), "/x?a=1");
        assert_eq!(strip_key_param("/x?keys=1&monkey=2"), "/x?keys=1&monkey=2");
    }
}
