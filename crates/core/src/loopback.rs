//! Which URLs may use plain http: those whose host is this machine's loopback interface.
//!
//! One rule for every place that decides it: `perstack validate` (provider base URLs, remote
//! skill endpoints), the skill host when it connects (`perstack install`, `perstack run`),
//! the network guard's loopback-only mode and `perstack proxy`'s allowlist.
//!
//! The host is judged as the URL parser normalised it, and callers connect to that parsed
//! URL, so spellings such as `127.1`, `0x7f.0.0.1` or `2130706433` are the address
//! 127.0.0.1 for the check and for the connection alike. A name other than `localhost`
//! never counts, whatever it resolves to (`127.0.0.1.nip.io`, `localhost.example.com`,
//! `app.localhost`): the static check cannot see what DNS will say. `localhost` itself is
//! resolved at connect time and every address it resolves to must be loopback
//! (see [`is_loopback_ip`]).

use std::net::IpAddr;

use url::{Host, Url};

/// How a URL names the loopback interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopbackHost {
    /// An address in 127.0.0.0/8, or ::1.
    Address(IpAddr),
    /// The name `localhost` (any case, one trailing dot allowed); it must resolve to
    /// loopback addresses only.
    Localhost,
}

/// The loopback host `url` names, or `None` when its host is anything else.
pub fn loopback_host(url: &Url) -> Option<LoopbackHost> {
    match url.host()? {
        Host::Ipv4(ip) => {
            is_loopback_ip(IpAddr::V4(ip)).then_some(LoopbackHost::Address(IpAddr::V4(ip)))
        }
        Host::Ipv6(ip) => {
            is_loopback_ip(IpAddr::V6(ip)).then_some(LoopbackHost::Address(IpAddr::V6(ip)))
        }
        Host::Domain(name) => {
            let name = name.strip_suffix('.').unwrap_or(name);
            name.eq_ignore_ascii_case("localhost")
                .then_some(LoopbackHost::Localhost)
        }
    }
}

/// Whether `ip` is a loopback address: 127.0.0.0/8 or ::1. IPv6 forms embedding an IPv4
/// address (`::ffff:127.0.0.1`, `::127.0.0.1`) do not count: write 127.0.0.1.
pub fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

/// Why `url`'s scheme is not acceptable for a server that must be reached over https
/// (plain http only on loopback), or `None` when it is. `what` names the URL in the message.
pub fn https_problem(url: &Url, what: &str) -> Option<String> {
    match url.scheme() {
        "https" => None,
        "http" if loopback_host(url).is_some() => None,
        "http" => Some(format!(
            "{what} must use https (plain http is allowed only for loopback hosts: localhost, \
             127.0.0.0/8 or [::1])"
        )),
        other => Some(format!("{what} has scheme \"{other}\"; use https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn host_of(raw: &str) -> Option<LoopbackHost> {
        loopback_host(&Url::parse(raw).unwrap())
    }

    const LOCAL_V4: Option<LoopbackHost> =
        Some(LoopbackHost::Address(IpAddr::V4(Ipv4Addr::LOCALHOST)));

    #[test]
    fn what_counts_as_loopback() {
        let cases: &[(&str, Option<LoopbackHost>)] = &[
            ("http://127.0.0.1:8080/mcp", LOCAL_V4),
            (
                "http://127.9.8.7/",
                Some(LoopbackHost::Address("127.9.8.7".parse().unwrap())),
            ),
            (
                "http://[::1]:1/",
                Some(LoopbackHost::Address(IpAddr::V6(Ipv6Addr::LOCALHOST))),
            ),
            (
                "http://[0:0:0:0:0:0:0:1]/",
                Some(LoopbackHost::Address(IpAddr::V6(Ipv6Addr::LOCALHOST))),
            ),
            // Other spellings of 127.0.0.1: the parser normalises them, and the connection
            // goes to the normalised address.
            ("http://127.1/", LOCAL_V4),
            ("http://0x7f.0.0.1/", LOCAL_V4),
            ("http://0177.0.0.1/", LOCAL_V4),
            ("http://2130706433/", LOCAL_V4),
            ("http://127.0.0.1\\@example.com/", LOCAL_V4),
            ("http://localhost/", Some(LoopbackHost::Localhost)),
            ("http://LocalHost:3000/", Some(LoopbackHost::Localhost)),
            ("http://localhost./", Some(LoopbackHost::Localhost)),
            ("http://loc%61lhost/", Some(LoopbackHost::Localhost)),
            // Not loopback.
            ("http://localhost../", None),
            ("http://localhost.example.com/", None),
            ("http://app.localhost/", None),
            ("http://127.0.0.1.nip.io/", None),
            ("http://localtest.me/", None),
            ("http://[::ffff:127.0.0.1]/", None),
            ("http://[::ffff:7f00:1]/", None),
            ("http://[::127.0.0.1]/", None),
            ("http://0.0.0.0/", None),
            ("http://0/", None),
            ("http://[::]/", None),
            ("http://128.0.0.1/", None),
            ("http://10.0.0.1/", None),
            ("http://169.254.169.254/", None),
            ("http://127.0.0.1@example.com/", None),
            ("http://example.com#@127.0.0.1", None),
            ("http://example.com/?h=127.0.0.1", None),
        ];
        let got: Vec<(&str, Option<LoopbackHost>)> =
            cases.iter().map(|(raw, _)| (*raw, host_of(raw))).collect();
        assert_eq!(got, cases.to_vec());
        assert_eq!(loopback_host(&Url::parse("file:///tmp/x").unwrap()), None);
    }

    #[test]
    fn https_problems() {
        let problem = |raw: &str| https_problem(&Url::parse(raw).unwrap(), raw);
        assert_eq!(problem("https://mcp.example.com/mcp"), None);
        assert_eq!(problem("https://10.0.0.1/mcp"), None);
        assert_eq!(problem("http://localhost:8080/mcp"), None);
        assert_eq!(problem("http://127.0.0.2/mcp"), None);
        assert_eq!(
            problem("http://mcp.example.com/mcp").as_deref(),
            Some(
                "http://mcp.example.com/mcp must use https (plain http is allowed only for \
                 loopback hosts: localhost, 127.0.0.0/8 or [::1])"
            )
        );
        assert!(problem("http://[::ffff:127.0.0.1]/").is_some());
        assert_eq!(
            problem("ftp://127.0.0.1/").as_deref(),
            Some("ftp://127.0.0.1/ has scheme \"ftp\"; use https")
        );
    }

    proptest! {
        /// Any spelling the parser accepts for an IPv4 address counts exactly when the
        /// address is in 127.0.0.0/8.
        #[test]
        fn ipv4_spellings(a: u8, b: u8, c: u8, d: u8, form in 0..4usize) {
            let n = u32::from_be_bytes([a, b, c, d]);
            let spelled = match form {
                0 => format!("{a}.{b}.{c}.{d}"),
                1 => n.to_string(),
                2 => format!("0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}"),
                _ => format!("0{a:o}.{b}.{}", u32::from(c) << 8 | u32::from(d)),
            };
            let got = host_of(&format!("http://{spelled}:8080/"));
            let want = (a == 127).then_some(LoopbackHost::Address(IpAddr::V4(Ipv4Addr::new(a, b, c, d))));
            prop_assert_eq!(got, want);
        }

        /// Only ::1 among IPv6 addresses.
        #[test]
        fn ipv6_addresses(segments: [u16; 8]) {
            let ip = Ipv6Addr::from(segments);
            let got = host_of(&format!("http://[{ip}]/"));
            let want = (ip == Ipv6Addr::LOCALHOST).then_some(LoopbackHost::Address(IpAddr::V6(ip)));
            prop_assert_eq!(got, want);
        }

        /// A name is loopback only when it is `localhost` itself: never a name below it or
        /// above it, whatever the other labels say.
        #[test]
        fn names_around_localhost(label in "[a-z0-9-]{1,12}", upper: bool) {
            let base = if upper { "LOCALHOST" } else { "localhost" };
            for name in [
                format!("{base}.{label}"),
                format!("{label}.{base}"),
                format!("{base}-{label}"),
                format!("{label}{base}"),
                format!("127.0.0.1.{label}.io"),
            ] {
                if let Ok(url) = Url::parse(&format!("http://{name}/")) {
                    prop_assert_eq!(loopback_host(&url), None, "{}", name);
                }
            }
        }
    }
}
