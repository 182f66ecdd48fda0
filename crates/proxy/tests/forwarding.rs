//! The proxy on a real Unix socket in front of real upstreams on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use common::{Running, Upstream, echo_server, env, raw, stable};
use perstack_core::config::ProviderName;
use perstack_proxy::{AccessRecord, AllowOptions, Decision, Proxy, ProxyConfig, ProxyError};
use pretty_assertions::assert_eq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const KEY: &str = "sk-ant-proxy-SECRET-0123456789";

fn anthropic_at(base: &str, allow_private: &[String]) -> ProxyConfig {
    let options = AllowOptions {
        providers: vec![ProviderName::Anthropic],
        allow_private: allow_private.to_vec(),
        ..AllowOptions::default()
    };
    let e = env(&[("ANTHROPIC_API_KEY", KEY), ("ANTHROPIC_BASE_URL", base)]);
    ProxyConfig::from_sources(None, &options, &e).unwrap()
}

fn refused_body(host: &str, port: u16) -> serde_json::Value {
    serde_json::json!({"error": {
        "type": "perstack_proxy_refused",
        "message": format!(
            "perstack proxy: {host}:{port} is not on the proxy's allowlist; add it with --allow {} or to perstack.toml",
            if port == 443 { host.to_string() } else { format!("{host}:{port}") }
        ),
    }})
}

#[tokio::test(flavor = "multi_thread")]
async fn forwards_origin_form_with_the_key_swapped_in() {
    let up = Upstream::start().await;
    let origin = format!("http://127.0.0.1:{}", up.port());
    let mut proxy = Running::start(anthropic_at(
        &format!("{origin}/v1"),
        std::slice::from_ref(&origin),
    ))
    .await;
    let reply = proxy
        .raw(&format!(
            "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nx-api-key: client-key\r\n\
             authorization: Bearer client-token\r\nproxy-authorization: Basic eA==\r\n\
             api-key: a\r\nx-goog-api-key: g\r\ncookie: session=1\r\n\
             content-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}",
            up.port()
        ))
        .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "upstream-ok"));
    let seen = up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].headers_named(&[
            "authorization",
            "proxy-authorization",
            "x-api-key",
            "api-key",
            "x-goog-api-key",
            "cookie",
            "content-type",
            "content-length",
            "host",
            "connection",
        ]),
        vec![
            ("content-length".to_string(), "2".to_string()),
            ("content-type".to_string(), "application/json".to_string()),
            ("host".to_string(), format!("127.0.0.1:{}", up.port())),
            ("x-api-key".to_string(), KEY.to_string()),
        ]
    );
    assert_eq!(
        (
            seen[0].method.as_str(),
            seen[0].path.as_str(),
            seen[0].body.as_str()
        ),
        ("POST", "/v1/messages", "{}")
    );
    assert_eq!(
        stable(proxy.next_record().await),
        AccessRecord {
            time: String::new(),
            client: "unix".into(),
            method: "POST".into(),
            host: "127.0.0.1".into(),
            port: up.port(),
            path: "/v1/messages".into(),
            status: 200,
            bytes_in: 2,
            bytes_out: 11,
            decision: Decision::Allowed,
            reason: None,
            credential: Some("x-api-key".into()),
            private_upstream: true,
            duration_ms: 0,
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_hosts_off_the_allowlist_with_a_json_error() {
    let up = Upstream::start().await;
    let origin = format!("http://127.0.0.1:{}", up.port());
    let mut proxy = Running::start(anthropic_at(&format!("{origin}/v1"), &[origin])).await;
    let reply = proxy
        .raw("POST /v1/messages HTTP/1.1\r\nHost: api.evil.example:443\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.headers.get("x-perstack-proxy").map(String::as_str),
        Some("refused")
    );
    let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body, refused_body("api.evil.example", 443));
    let record = stable(proxy.next_record().await);
    assert_eq!(
        record,
        AccessRecord {
            time: String::new(),
            client: "unix".into(),
            method: "POST".into(),
            host: "api.evil.example".into(),
            port: 443,
            path: "/v1/messages".into(),
            status: 403,
            bytes_in: 0,
            bytes_out: 0,
            decision: Decision::Refused,
            reason: Some(body["error"]["message"].as_str().unwrap().to_string()),
            credential: None,
            private_upstream: false,
            duration_ms: 0,
        }
    );
    assert_eq!(up.seen(), vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_base_url_without_allow_private_is_refused_by_the_guard() {
    let up = Upstream::start().await;
    let base = format!("http://127.0.0.1:{}/v1", up.port());
    let config = anthropic_at(&base, &[]);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains(&format!("--allow-private http://127.0.0.1:{}", up.port()))),
        "{:?}",
        config.warnings
    );
    let mut proxy = Running::start(config).await;
    let reply = proxy
        .raw(&format!(
            "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            up.port()
        ))
        .await;
    assert_eq!(reply.status, 403);
    let record = proxy.next_record().await;
    assert_eq!(record.decision, Decision::Refused);
    assert!(
        record
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("network guard refused"),
        "{record:?}"
    );
    assert_eq!(up.seen(), vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_resolving_to_an_allowed_private_address_is_still_refused() {
    // 127.0.0.1:PORT is allowed with --allow-private; a provider at http://localhost:OTHER
    // resolves to the same address but was not given with --allow-private.
    let up = Upstream::start().await;
    let private = format!("http://127.0.0.1:{}", up.port());
    let mut proxy = Running::start(anthropic_at(
        &format!("http://localhost:{}/v1", up.port()),
        &[private],
    ))
    .await;
    let reply = proxy
        .raw(&format!(
            "POST /v1/messages HTTP/1.1\r\nHost: localhost:{}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            up.port()
        ))
        .await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(proxy.next_record().await.decision, Decision::Refused);
    assert_eq!(up.seen(), vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_mapped_and_localhost_hosts_are_refused() {
    let up = Upstream::start().await;
    let origin = format!("http://127.0.0.1:{}", up.port());
    let mut proxy = Running::start(anthropic_at(&format!("{origin}/v1"), &[origin])).await;
    for host in [
        "169.254.169.254:80".to_string(),
        "169.254.169.254".to_string(),
        format!("[::ffff:127.0.0.1]:{}", up.port()),
        "[::ffff:127.0.0.1]".to_string(),
        format!("localhost:{}", up.port()),
        "localhost".to_string(),
    ] {
        let reply = proxy
            .raw(&format!(
                "GET /latest/meta-data HTTP/1.1\r\nHost: {host}\r\nconnection: close\r\n\r\n"
            ))
            .await;
        assert_eq!(reply.status, 403, "{host}");
        assert_eq!(
            proxy.next_record().await.decision,
            Decision::Refused,
            "{host}"
        );
    }
    // Absolute-form to the metadata address, as an HTTP_PROXY client would send it.
    let reply = proxy
        .raw("GET http://169.254.169.254/latest HTTP/1.1\r\nHost: 169.254.169.254\r\nconnection: close\r\n\r\n")
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(up.seen(), vec![]);
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_go_back_to_the_client_unfollowed() {
    let up = Upstream::start().await;
    let origin = format!("http://127.0.0.1:{}", up.port());
    let proxy = Running::start(anthropic_at(&format!("{origin}/v1"), &[origin])).await;
    let reply = proxy
        .raw(&format!(
            "GET /redirect HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nconnection: close\r\n\r\n",
            up.port()
        ))
        .await;
    assert_eq!(
        (reply.status, reply.headers.get("location").cloned()),
        (302, Some("http://169.254.169.254/latest".to_string()))
    );
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_arrives_chunk_by_chunk() {
    let up = Upstream::start().await;
    let origin = format!("http://127.0.0.1:{}", up.port());
    let mut proxy = Running::start(anthropic_at(&format!("{origin}/v1"), &[origin])).await;
    let mut stream = UnixStream::connect(&proxy.socket).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /sse HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
                up.port()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    // The upstream holds the second chunk until released: the first must arrive on its own.
    while !seen.contains("data: one") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("the first chunk arrives before the second is sent")
            .unwrap();
        assert!(n > 0, "closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(!seen.contains("data: two"), "{seen}");
    up.release.notify_one();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    seen.push_str(&String::from_utf8_lossy(&rest));
    assert!(seen.contains("data: two"), "{seen}");
    let record = proxy.next_record().await;
    assert_eq!((record.status, record.bytes_out), (200, 22));
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_tunnels_to_allowed_hosts_and_refuses_others() {
    let echo = echo_server().await;
    let other = common::closed_port().await;
    let options = AllowOptions {
        allow_private: vec![format!("http://127.0.0.1:{}", echo.port())],
        ..AllowOptions::default()
    };
    let config = ProxyConfig::from_sources(None, &options, &env(&[])).unwrap();
    let mut proxy = Running::start(config).await;

    let mut stream = UnixStream::connect(&proxy.socket).await.unwrap();
    let connect = format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\n");
    stream.write_all(connect.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream.write_all(b"ping through the tunnel").await.unwrap();
    let mut echoed = [0u8; 23];
    stream.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"ping through the tunnel");
    drop(stream);
    let record = stable(proxy.next_record().await);
    assert_eq!(
        record,
        AccessRecord {
            time: String::new(),
            client: "unix".into(),
            method: "CONNECT".into(),
            host: "127.0.0.1".into(),
            port: echo.port(),
            path: String::new(),
            status: 200,
            bytes_in: 23,
            bytes_out: 23,
            decision: Decision::Allowed,
            reason: None,
            credential: None,
            private_upstream: true,
            duration_ms: 0,
        }
    );

    let reply = raw(
        &proxy.socket,
        &format!("CONNECT 127.0.0.1:{other} HTTP/1.1\r\nHost: 127.0.0.1:{other}\r\n\r\n"),
    )
    .await;
    assert_eq!(reply.status, 403);
    assert_eq!(proxy.next_record().await.decision, Decision::Refused);
    let reply = raw(
        &proxy.socket,
        "CONNECT 169.254.169.254:443 HTTP/1.1\r\nHost: 169.254.169.254:443\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_key_query_is_removed_and_no_log_line_carries_a_key() {
    let up = Upstream::start().await;
    let origin = format!("http://127.0.0.1:{}", up.port());
    let gkey = "AIza-proxy-SECRET-gemini-000";
    let options = AllowOptions {
        providers: vec![ProviderName::Google, ProviderName::Anthropic],
        allow_private: vec![origin.clone()],
        ..AllowOptions::default()
    };
    let e = env(&[
        ("GOOGLE_GENERATIVE_AI_API_KEY", gkey),
        ("GOOGLE_GENERATIVE_AI_BASE_URL", &format!("{origin}/v1beta")),
        ("ANTHROPIC_API_KEY", KEY),
    ]);
    let config = ProxyConfig::from_sources(None, &options, &e).unwrap();
    assert!(!config.summary().contains("SECRET"), "{}", config.summary());
    assert!(!format!("{config:?}").contains("SECRET"));
    let mut proxy = Running::start(config).await;
    let path = "/v1beta/models/gemini:streamGenerateContent?alt=sse&key=AIza-client-LEAKED";
    let reply = proxy
        .raw(&format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            up.port()
        ))
        .await;
    assert_eq!(reply.status, 200);
    let seen = up.seen();
    assert_eq!(
        (
            seen[0].path.as_str(),
            seen[0].headers_named(&["x-goog-api-key"])
        ),
        (
            "/v1beta/models/gemini:streamGenerateContent?alt=sse",
            vec![("x-goog-api-key".to_string(), gkey.to_string())]
        )
    );
    let mut lines = vec![proxy.next_record().await.to_json_line()];
    for request in [
        format!(
            "GET /x?key={KEY} HTTP/1.1\r\nHost: evil.example\r\nx-api-key: {KEY}\r\nconnection: close\r\n\r\n"
        ),
        format!(
            "GET http://127.0.0.1:{}/?key={gkey} HTTP/1.1\r\nHost: x\r\nconnection: close\r\n\r\n",
            up.port()
        ),
        format!(
            "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nproxy-authorization: {KEY}\r\n\r\n"
        ),
    ] {
        let _ = proxy.raw(&request).await;
        lines.push(proxy.next_record().await.to_json_line());
    }
    for line in &lines {
        for secret in [KEY, gkey, "LEAKED", "SECRET"] {
            assert!(!line.contains(secret), "{line}");
        }
    }
    assert_eq!(lines.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn socket_mode_and_group_are_applied_and_the_socket_removed_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let gid = std::fs::metadata(dir.path()).unwrap().gid();
    for (mode, group) in [(0o600, None), (0o660, Some(gid))] {
        let path = dir.path().join(format!("egress-{mode:o}.sock"));
        // A stale socket file from an earlier run is replaced.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let config = ProxyConfig {
            socket: Some(perstack_proxy::SocketOptions {
                path: path.clone(),
                mode,
                group,
            }),
            access_log: std::sync::Arc::new(perstack_proxy::MemorySink::default()),
            ..ProxyConfig::default()
        };
        let proxy = Proxy::bind(config).await.unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.permissions().mode() & 0o777, meta.gid()),
            (mode, group.unwrap_or(meta.gid()))
        );
        proxy.serve(async {}).await.unwrap();
        assert!(!path.exists());
    }
    let not_socket = dir.path().join("file");
    std::fs::write(&not_socket, "x").unwrap();
    let config = ProxyConfig {
        socket: Some(perstack_proxy::SocketOptions {
            path: not_socket.clone(),
            mode: 0o600,
            group: None,
        }),
        ..ProxyConfig::default()
    };
    assert!(matches!(
        Proxy::bind(config).await,
        Err(ProxyError::NotASocket(p)) if p == not_socket
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn listen_refuses_non_loopback_addresses() {
    let config = ProxyConfig {
        listen: Some("0.0.0.0:0".parse().unwrap()),
        ..ProxyConfig::default()
    };
    let err = Proxy::bind(config).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "--listen 0.0.0.0:0: only loopback addresses (127.0.0.1, [::1]) are allowed; the Unix \
         socket is the way to reach the proxy from a container"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_an_in_flight_stream_finish() {
    let up = Upstream::start().await;
    let origin = format!("http://127.0.0.1:{}", up.port());
    let mut proxy = Running::start(anthropic_at(&format!("{origin}/v1"), &[origin])).await;
    let mut stream = UnixStream::connect(&proxy.socket).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /sse HTTP/1.1\r\nHost: 127.0.0.1:{}\r\ncontent-length: 0\r\n\r\n",
                up.port()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200"));
    let _ = proxy.stop.take().unwrap().send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!proxy.socket.exists());
    up.release.notify_one();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&buf[..n]),
        String::from_utf8_lossy(&rest)
    );
    assert!(text.contains("data: two"), "{text}");
    assert_eq!(proxy.next_record().await.status, 200);
}
