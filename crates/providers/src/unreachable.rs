//! Connection refused by a local endpoint: nothing listens there, so retrying cannot help
//! and the run fails at once saying which server to start.

use std::net::IpAddr;

use url::{Host, Url};

/// The origin (`http://127.0.0.1:11434`) of `url` when `err` is a refused connection to
/// a loopback or private host; `None` for anything else (those stay retryable).
pub(crate) fn refused_local_origin(url: &Url, err: &reqwest::Error) -> Option<String> {
    (is_local(url) && is_refused(err)).then(|| url.origin().ascii_serialization())
}

/// Whether `url` names this machine or a private network.
pub(crate) fn is_local(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => is_private(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_private(IpAddr::V6(ip)),
        None => false,
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// Whether the error chain holds a refused connection.
fn is_refused(err: &reqwest::Error) -> bool {
    if !err.is_connect() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        if s.to_string()
            .to_ascii_lowercase()
            .contains("connection refused")
        {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_private_and_localhost_are_local_public_hosts_are_not() {
        for u in [
            "http://127.0.0.1:11434/v1",
            "http://localhost:11434",
            "http://ollama.localhost:1",
            "http://10.0.0.5:8000",
            "http://192.168.1.2",
            "http://172.16.0.1",
            "http://[::1]:11434",
            "http://[fd00::1]:80",
        ] {
            assert!(is_local(&Url::parse(u).unwrap()), "{u}");
        }
        for u in [
            "https://api.openai.com/v1",
            "http://8.8.8.8",
            "http://[2001:db8::1]",
        ] {
            assert!(!is_local(&Url::parse(u).unwrap()), "{u}");
        }
    }
}
