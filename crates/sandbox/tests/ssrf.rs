//! The network guard against SSRF spellings, rebinding names, `allowedDomains`, and a
//! redirect chain that ends at a private address (served on loopback).

// Helpers outside #[test] functions may panic too: this is test code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::sync::Arc;

use perstack_sandbox::net::{GuardedClient, GuardedError, StaticResolver};
use perstack_sandbox::{NetworkGuard, NetworkPolicy, Refusal};
use pretty_assertions::assert_eq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn resolver() -> StaticResolver {
    StaticResolver::new()
        .with("localhost", &[ip("127.0.0.1"), ip("::1")])
        .with("rebind.test", &[ip("93.184.216.34"), ip("10.0.0.1")])
        .with("metadata.test", &[ip("169.254.169.254")])
        .with("public.test", &[ip("93.184.216.34")])
        .with("v6.test", &[ip("fd00::1")])
        .with("127.0.0.1.nip.io", &[ip("127.0.0.1")])
        .with("example.com", &[ip("93.184.216.34")])
        .with("a.b.example.com", &[ip("93.184.216.34")])
        .with("private.example.com", &[ip("10.1.2.3")])
        .with("api.other.org", &[ip("93.184.216.35")])
        .with("other.org", &[ip("93.184.216.35")])
}

fn guard(policy: NetworkPolicy) -> NetworkGuard {
    NetworkGuard::new(policy, Arc::new(resolver()))
}

const REFUSED: &[&str] = &[
    "http://127.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://127.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://0x7f.0x0.0x0.0x1/",
    "http://127.000.000.001/",
    "http://0/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/",
    "http://0xA9FEA9FE/",
    "http://0251.0376.0251.0376/",
    "http://169.254.43518/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://192.0.0.170/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://198.18.0.1/",
    "http://metadata.test/",
    "http://rebind.test/",
    "http://127.0.0.1.nip.io/",
    "http://v6.test/",
    "http://①②⑦.0.0.1/",
    "http://127\u{3002}0\u{3002}0\u{3002}1/",
    "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/",
    "http:\\\\127.0.0.1\\",
    "http:/127.0.0.1/",
    " http://127.0.0.1/",
    "http://127.0.0.1\t/",
    "http://127.0.0.1#@public.test/",
    "http://evil.com@127.0.0.1/",
    "http://user:pass@public.test/",
    "http://public.test@127.0.0.1/",
    "https://127.0.0.1:443/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/",
    "ftp://public.test/",
    "data:text/plain,hi",
    "javascript:alert(1)",
    "http://unknown.invalid/",
    "http://[fe80::1%25eth0]/",
];

#[tokio::test]
async fn ssrf_spellings_are_refused() {
    let g = guard(NetworkPolicy::default());
    assert!(REFUSED.len() >= 40);
    for url in REFUSED {
        let res = g.check_url(url).await;
        assert!(res.is_err(), "{url:?} was allowed: {res:?}");
    }
}

#[tokio::test]
async fn refusals_say_why() {
    let g = guard(NetworkPolicy::default());
    assert_eq!(
        g.check_url("http://0xA9FEA9FE/").await.unwrap_err(),
        Refusal::NonGlobal {
            host: "169.254.169.254".into(),
            ip: ip("169.254.169.254"),
            reason: "link-local or cloud metadata (169.254.0.0/16)"
        }
    );
    assert_eq!(
        g.check_url("http://rebind.test/").await.unwrap_err(),
        Refusal::NonGlobal {
            host: "rebind.test".into(),
            ip: ip("10.0.0.1"),
            reason: "private (10.0.0.0/8)"
        }
    );
    assert!(
        matches!(g.check_url("http://a:b@public.test/").await, Err(Refusal::Credentials { url }) if !url.contains("a:b"))
    );
    assert!(matches!(
        g.check_url("file:///etc/passwd").await,
        Err(Refusal::Scheme { .. })
    ));
}

#[tokio::test]
async fn global_hosts_are_pinned() {
    let g = guard(NetworkPolicy::default());
    let t = g.check_url("https://PUBLIC.test./path?q=1").await.unwrap();
    assert_eq!(t.host, "public.test");
    assert_eq!(t.port, 443);
    assert_eq!(t.addrs, vec!["93.184.216.34:443".parse().unwrap()]);
    let t = g.check_url("http://8.8.8.8:8080/").await.unwrap();
    assert_eq!(t.addrs, vec!["8.8.8.8:8080".parse().unwrap()]);
}

#[tokio::test]
async fn allowed_domains() {
    let policy =
        NetworkPolicy::with_allowed_domains(&["*.example.com".into(), "api.other.org.".into()])
            .unwrap();
    let g = guard(policy);
    for ok in [
        "https://example.com/",
        "https://a.b.example.com/x",
        "https://API.OTHER.ORG./v1",
    ] {
        assert!(g.check_url(ok).await.is_ok(), "{ok}");
    }
    for bad in [
        "https://other.org/",
        "https://evilexample.com/",
        "https://example.com.evil.net/",
        "http://93.184.216.34/",
        "https://exämple.com/",
        "https://private.example.com/",
    ] {
        assert!(g.check_url(bad).await.is_err(), "{bad}");
    }
}

/// A loopback server: `/start` redirects to `/hop`, `/hop` redirects to `target`,
/// everything else answers 200 with the request's Host header.
async fn redirect_server(
    hop_target: String,
    requests: usize,
) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = tokio::spawn(async move {
        let mut seen = Vec::new();
        // Bounded: each test says how many requests it makes.
        for _ in 0..requests {
            let Ok(Ok((mut sock, _))) =
                tokio::time::timeout(std::time::Duration::from_secs(10), listener.accept()).await
            else {
                break;
            };
            let mut buf = vec![0u8; 4096];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            let host = req
                .lines()
                .find_map(|l| {
                    l.strip_prefix("host: ")
                        .or_else(|| l.strip_prefix("Host: "))
                })
                .unwrap_or("")
                .to_string();
            seen.push(format!("{path} host={host}"));
            let resp = match path.as_str() {
                "/start" => format!(
                    "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/hop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
                "/hop" => format!(
                    "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    hop_target.replace("PORT", &port.to_string())
                ),
                "/loop" => "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                _ => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{host}", host.len()),
            };
            let _ = sock.write_all(resp.as_bytes()).await;
        }
        seen
    });
    (port, handle)
}

fn loopback_guard() -> Arc<NetworkGuard> {
    let policy = NetworkPolicy {
        allowed_domains: None,
        allowed_addresses: vec![ip("127.0.0.1")],
    };
    let resolver = resolver()
        .with("pinned.test", &[ip("127.0.0.1")])
        .with("internal.test", &[ip("10.9.8.7")]);
    Arc::new(NetworkGuard::new(policy, Arc::new(resolver)))
}

async fn get(client: &GuardedClient, url: &str) -> Result<reqwest::Response, GuardedError> {
    let req = client.inner().get(url).build().unwrap();
    client.execute(req).await
}

#[tokio::test]
async fn redirect_chain_to_metadata_address_is_refused() {
    let (port, server) =
        redirect_server("http://169.254.169.254/latest/meta-data/".into(), 2).await;
    let client = GuardedClient::new(loopback_guard()).unwrap();
    let err = get(&client, &format!("http://127.0.0.1:{port}/start"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GuardedError::Refused(Refusal::NonGlobal { ip, .. }) if *ip == self::ip("169.254.169.254")),
        "{err:?}"
    );
    drop(client);
    server.abort();
}

#[tokio::test]
async fn redirect_chain_to_private_name_is_refused_at_resolution() {
    let (port, server) = redirect_server("http://internal.test:PORT/final".into(), 2).await;
    let client = GuardedClient::new(loopback_guard()).unwrap();
    let err = get(&client, &format!("http://127.0.0.1:{port}/start"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GuardedError::Refused(Refusal::NonGlobal { ip, .. }) if *ip == self::ip("10.9.8.7")),
        "{err:?}"
    );
    server.abort();
}

#[tokio::test]
async fn redirect_to_mapped_loopback_is_refused() {
    let (port, server) = redirect_server("http://[::ffff:127.0.0.1]:PORT/final".into(), 2).await;
    let client = GuardedClient::new(loopback_guard()).unwrap();
    let err = get(&client, &format!("http://127.0.0.1:{port}/start"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GuardedError::Refused(Refusal::NonGlobal { .. })),
        "{err:?}"
    );
    server.abort();
}

#[tokio::test]
async fn allowed_chain_connects_to_the_pinned_address() {
    // `pinned.test` exists only in the guard's resolver: reaching the server proves the
    // connection used the checked address, not a second lookup.
    let (port, server) = redirect_server("http://pinned.test:PORT/final".into(), 3).await;
    let client = GuardedClient::new(loopback_guard()).unwrap();
    let resp = get(&client, &format!("http://127.0.0.1:{port}/start"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.unwrap(), format!("pinned.test:{port}"));
    let seen = server.await.unwrap();
    assert_eq!(
        seen,
        vec![
            format!("/start host=127.0.0.1:{port}"),
            format!("/hop host=127.0.0.1:{port}"),
            format!("/final host=pinned.test:{port}"),
        ]
    );
}

#[tokio::test]
async fn redirect_loops_stop() {
    let (port, server) = redirect_server(String::new(), 11).await;
    let client = GuardedClient::new(loopback_guard()).unwrap();
    let err = get(&client, &format!("http://127.0.0.1:{port}/loop"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, GuardedError::Refused(Refusal::TooManyRedirects(10))),
        "{err:?}"
    );
    server.abort();
}

mod spellings {
    use super::*;
    use perstack_sandbox::net::StaticCheck;
    use proptest::prelude::*;

    fn private_v4() -> impl Strategy<Value = u32> {
        prop_oneof![
            (0u32..1 << 24).prop_map(|x| (10 << 24) | x),
            (0u32..1 << 24).prop_map(|x| (127 << 24) | x),
            (0u32..1 << 16).prop_map(|x| (169 << 24) | (254 << 16) | x),
            (0u32..1 << 20).prop_map(|x| (172 << 24) | (16 << 16) | x),
            (0u32..1 << 16).prop_map(|x| (192 << 24) | (168 << 16) | x),
            (0u32..1 << 22).prop_map(|x| (100 << 24) | (64 << 16) | x),
        ]
    }

    fn spell(ip: u32, how: u8) -> String {
        let o = ip.to_be_bytes();
        match how % 6 {
            0 => ip.to_string(),
            1 => format!("0x{ip:x}"),
            2 => format!("0{ip:o}"),
            3 => format!("0x{:x}.0x{:x}.0x{:x}.0x{:x}", o[0], o[1], o[2], o[3]),
            4 => format!("0{:o}.0{:o}.0{:o}.0{:o}", o[0], o[1], o[2], o[3]),
            _ => format!("{}.{}", o[0], u32::from_be_bytes([0, o[1], o[2], o[3]])),
        }
    }

    proptest! {
        #[test]
        fn any_spelling_of_a_private_v4_is_refused(ip in private_v4(), how in any::<u8>(), mapped in any::<bool>()) {
            let g = guard(NetworkPolicy::default());
            let host = if mapped {
                let o = ip.to_be_bytes();
                format!("[::ffff:{}.{}.{}.{}]", o[0], o[1], o[2], o[3])
            } else {
                spell(ip, how)
            };
            let url = url::Url::parse(&format!("http://{host}/")).unwrap();
            let res = g.check_static(&url);
            prop_assert!(res.is_err(), "{host} allowed: {res:?}");
        }

        #[test]
        fn global_v4_literals_pass(a in 11u8..100, b: u8, c: u8, d: u8) {
            let g = guard(NetworkPolicy::default());
            let url = url::Url::parse(&format!("http://{a}.{b}.{c}.{d}/")).unwrap();
            prop_assert_eq!(g.check_static(&url), Ok(StaticCheck::Address(IpAddr::from([a, b, c, d]))));
        }
    }
}

/// The loopback-only guard of a plain-http endpoint on this machine: every address a name
/// resolves to must be loopback (127.0.0.0/8, ::1), and nothing else gets through, not even
/// a global address.
#[tokio::test]
async fn loopback_only_guard_stays_on_this_machine() {
    let resolver = resolver()
        .with("half-local.test", &[ip("127.0.0.1"), ip("93.184.216.34")])
        .with("loop-v4.test", &[ip("127.8.9.10")]);
    let g = NetworkGuard::new(NetworkPolicy::default(), Arc::new(resolver)).loopback_only();
    for ok in [
        "http://localhost:8080/mcp",
        "http://127.0.0.1/",
        "http://127.1/",
        "http://127.200.0.1/",
        "http://[::1]:1/",
        "https://localhost/",
        "http://loop-v4.test/",
    ] {
        assert!(g.check_url(ok).await.is_ok(), "{ok}");
    }
    assert_eq!(
        g.check_url("http://half-local.test/").await.unwrap_err(),
        Refusal::NotLoopback {
            host: "half-local.test".into(),
            ip: ip("93.184.216.34"),
        }
    );
    for bad in [
        "http://public.test/",
        "http://8.8.8.8/",
        "http://10.0.0.1/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::127.0.0.1]/",
        "http://[fe80::1]/",
        "http://metadata.test/",
    ] {
        assert!(
            matches!(g.check_url(bad).await, Err(Refusal::NotLoopback { .. })),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn loopback_only_guard_refuses_a_redirect_off_the_machine() {
    let (port, server) = redirect_server("http://public.test/final".into(), 2).await;
    let guard = NetworkGuard::new(NetworkPolicy::default(), Arc::new(resolver())).loopback_only();
    let client = GuardedClient::new(Arc::new(guard)).unwrap();
    let err = get(&client, &format!("http://127.0.0.1:{port}/start"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GuardedError::Refused(Refusal::NotLoopback { ip, .. }) if *ip == self::ip("93.184.216.34")),
        "{err:?}"
    );
    server.abort();
}
