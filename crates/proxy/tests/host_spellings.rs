//! Property: whatever a client writes in `Host` (ports, case, trailing dots, IP literals in
//! decimal, hex or octal forms, IPv6 and mapped forms, userinfo), nothing outside the allowlist
//! is ever forwarded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::{Arc, Mutex};

use common::{Running, Upstream, raw};
use perstack_proxy::{AllowOptions, Decision, ProxyConfig};
use perstack_sandbox::net::StaticResolver;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Spellings of hosts: the allowed loopback upstream in many forms, and hosts that must not
/// be reached.
const HOSTS: &[&str] = &[
    "127.0.0.1",
    "2130706433",
    "0x7f000001",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "0177.0.0.01",
    "127.1",
    "127.0.1",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:0:0:1]",
    "[fe80::1]",
    "169.254.169.254",
    "2852039166",
    "0xa9fea9fe",
    "0251.0376.0251.0376",
    "10.0.0.1",
    "0.0.0.0",
    "0",
    "localhost",
    "localhost.localdomain",
    "metadata.google.internal",
    "allowed.test",
    "allowed.test.evil",
    "evil.allowed.test",
    "api.anthropic.com",
    "xn--nxasmq6b",
    "127.0.0.1.nip.io",
];

#[derive(Debug, Clone)]
struct Spelling {
    host: usize,
    upper: Vec<bool>,
    trailing_dot: bool,
    port: usize,
    userinfo: usize,
}

fn spelling() -> impl Strategy<Value = Spelling> {
    (
        0..HOSTS.len(),
        proptest::collection::vec(any::<bool>(), 32),
        any::<bool>(),
        0usize..9,
        0usize..4,
    )
        .prop_map(|(host, upper, trailing_dot, port, userinfo)| Spelling {
            host,
            upper,
            trailing_dot,
            port,
            userinfo,
        })
}

fn render(s: &Spelling, allowed_port: u16) -> String {
    let mut host: String = HOSTS[s.host]
        .chars()
        .zip(s.upper.iter().cycle())
        .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
        .collect();
    if s.trailing_dot && !host.starts_with('[') {
        host.push('.');
    }
    let port = match s.port {
        0 => String::new(),
        1 | 2 => format!(":{allowed_port}"),
        3 => format!(":{}", allowed_port.wrapping_add(1)),
        4 => ":443".into(),
        5 => ":80".into(),
        6 => format!(":0{allowed_port}"),
        7 => format!(":{}", u32::from(allowed_port) + 65536),
        _ => format!(":+{allowed_port}"),
    };
    match s.userinfo {
        0 | 1 => format!("{host}{port}"),
        2 => format!("user:pass@{host}{port}"),
        _ => format!("127.0.0.1:{allowed_port}@{host}{port}"),
    }
}

#[test]
fn nothing_outside_the_allowlist_is_ever_forwarded() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (up, proxy) = rt.block_on(async {
        let up = Upstream::start().await;
        let options = AllowOptions {
            allow: vec!["allowed.test".into()],
            allow_private: vec![format!("http://127.0.0.1:{}", up.port())],
            ..AllowOptions::default()
        };
        let mut config = ProxyConfig::from_sources(None, &options, &common::env(&[])).unwrap();
        // allowed.test resolves to loopback: on the allowlist, but the guard must refuse it.
        config.resolver =
            Arc::new(StaticResolver::new().with("allowed.test", &["127.0.0.1".parse().unwrap()]));
        (up, Running::start(config).await)
    });
    let port = up.port();
    let proxy = Mutex::new(proxy);
    // Random spellings each run; about one in thirty reaches the upstream (a loopback
    // spelling with the allowed port), so 2048 cases make the "> 10 forwarded" check below
    // hold whatever the seed (512 left it a few per cent short: seen once in CI-like runs).
    let mut runner = TestRunner::new(Config {
        cases: 2048,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&spelling(), |s| {
            let host = render(&s, port);
            let before = up.seen().len();
            let mut proxy = proxy.lock().unwrap();
            let (reply, record) = rt.block_on(async {
                let reply = raw(
                    &proxy.socket,
                    &format!("GET /probe HTTP/1.1\r\nHost: {host}\r\nconnection: close\r\n\r\n"),
                )
                .await;
                (reply, proxy.next_record().await)
            });
            let seen = up.seen();
            let forwarded = seen.len() > before;
            prop_assert_eq!(forwarded, reply.status == 200, "{} -> {:?}", host, reply);
            if forwarded {
                prop_assert_eq!(
                    (record.host.as_str(), record.port, record.decision),
                    ("127.0.0.1", port, Decision::Allowed),
                    "{}",
                    host
                );
                let last = seen.last().unwrap();
                prop_assert_eq!(
                    last.headers_named(&["host"]),
                    vec![("host".to_string(), format!("127.0.0.1:{port}"))]
                );
                prop_assert!(!host.contains('@'), "userinfo forwarded: {}", host);
            } else {
                prop_assert!(reply.status >= 400, "{} -> {:?}", host, reply);
            }
            Ok(())
        })
        .unwrap();
    assert!(up.seen().len() > 10, "few spellings reached the upstream");
    // The canonical spelling is forwarded (the property above is not vacuous).
    let reply = rt.block_on(raw(
        &proxy.lock().unwrap().socket,
        &format!("GET /probe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n"),
    ));
    assert_eq!(reply.status, 200);
}
