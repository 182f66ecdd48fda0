//! `--egress` for stdio skills that declare network access: they get `HTTP(S)_PROXY` at the
//! runtime's loopback forwarder, which relays to the proxy's Unix socket; their confinement
//! lets them connect to that port and no other. Remote skills go to the socket too, except
//! those on loopback, connected to directly. A stand-in for `perstack proxy` records what
//! arrives on the socket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use perstack_core::config::{RemoteSkill, SkillConfig, StdioSkill};
use perstack_core::egress::Egress;
use perstack_skills::host::SkillHost;
use pretty_assertions::assert_eq;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

/// The first line of what a connection sends (its request line).
async fn first_line(s: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().unwrap_or("").to_string()
}

/// A socket that answers every CONNECT with 200 and records the request line.
fn fake_proxy(dir: &std::path::Path) -> (Egress, Arc<Mutex<Vec<String>>>) {
    let path = dir.join("egress.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let line = first_line(&mut s).await;
            sink.lock().unwrap().push(line);
            let _ = s
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await;
        }
    });
    (
        Egress::parse(&format!("unix://{}", path.display())).unwrap(),
        seen,
    )
}

#[tokio::test]
async fn a_network_skill_reaches_the_proxy_through_the_forwarder_and_nothing_else() {
    let ws = workspace();
    let sock_dir = tempfile::tempdir().unwrap();
    let (egress, seen) = fake_proxy(sock_dir.path());
    let opts = options(&ws).with_egress(Some(egress));
    let (sink, _ev) = events();
    let skill = SkillConfig::McpStdioSkill(StdioSkill {
        command: TEST_SERVER.into(),
        args: Some(vec![]),
        allowed_domains: Some(vec!["api.example.com".into()]),
        ..StdioSkill::default()
    });
    let host = SkillHost::start(
        &expert_with(vec![("net", skill)]),
        &no_experts(),
        opts,
        sink,
    )
    .await
    .unwrap();
    let env = |name: &'static str| {
        let host = &host;
        async move {
            let out = host
                .call("c", "env", args(json!({ "name": name })))
                .await
                .into_output()
                .unwrap();
            texts(&out.result)[0].clone()
        }
    };
    let proxy_url = env("HTTPS_PROXY").await;
    assert!(proxy_url.starts_with("http://127.0.0.1:"), "{proxy_url}");
    assert_eq!(env("HTTP_PROXY").await, proxy_url);
    let addr = proxy_url.trim_start_matches("http://").to_string();

    // Through the forwarder: the CONNECT arrives at the proxy's socket.
    let out = host
        .call(
            "c",
            "connect",
            args(json!({"addr": addr, "send": "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n"})),
        )
        .await
        .into_output()
        .unwrap();
    assert!(!out.is_error, "{:?}", texts(&out.result));
    assert!(
        texts(&out.result)[0].starts_with("HTTP/1.1 200"),
        "{:?}",
        texts(&out.result)
    );
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec!["CONNECT api.example.com:443 HTTP/1.1".to_string()]
    );

    // Around it: a direct connection to another local listener is refused by the kernel
    // (Landlock's TCP rules, ABI 4+; this machine's kernel has them).
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = host
        .call(
            "c",
            "connect",
            args(json!({"addr": other.local_addr().unwrap().to_string(), "send": "GET / HTTP/1.1\r\n\r\n"})),
        )
        .await
        .into_output()
        .unwrap();
    assert!(out.is_error, "{:?}", texts(&out.result));
    assert!(
        texts(&out.result)[0].contains("connect failed"),
        "{:?}",
        texts(&out.result)
    );
    other.set_nonblocking(true).unwrap();
    assert!(
        other.accept().is_err(),
        "the other listener got a connection"
    );
    host.shutdown().await;
}

/// A loopback listener that records the request line of each connection, then closes it.
async fn loopback_recorder() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let line = first_line(&mut s).await;
            sink.lock().unwrap().push(line);
        }
    });
    (port, seen)
}

/// With `--egress`, a remote skill on loopback is connected to directly (loopback is the
/// sandbox's own interface; the proxy outside cannot reach it), while any other endpoint
/// goes to the proxy's socket.
#[tokio::test]
async fn remote_skills_on_loopback_bypass_the_proxy_and_others_go_through_it() {
    let ws = workspace();
    let sock_dir = tempfile::tempdir().unwrap();
    let (egress, proxied) = fake_proxy(sock_dir.path());
    let (port, direct) = loopback_recorder().await;
    let start = |endpoint: String| {
        let mut opts = options(&ws).with_egress(Some(egress.clone()));
        opts.startup_timeout = std::time::Duration::from_secs(10);
        async move {
            let skill = SkillConfig::McpSseSkill(RemoteSkill {
                endpoint,
                ..RemoteSkill::default()
            });
            let (sink, _ev) = events();
            SkillHost::start(&expert_with(vec![("r", skill)]), &no_experts(), opts, sink)
                .await
                .unwrap_err()
        }
    };
    // Neither answers MCP, so both starts fail; what matters is where the request went.
    start(format!("http://localhost:{port}/mcp")).await;
    assert_eq!(
        direct.lock().unwrap().first().map(String::as_str),
        Some("POST /mcp HTTP/1.1")
    );
    assert_eq!(proxied.lock().unwrap().clone(), Vec::<String>::new());
    start("https://mcp.example.com/mcp".into()).await;
    assert_eq!(
        proxied.lock().unwrap().first().map(String::as_str),
        Some("POST /mcp HTTP/1.1")
    );
    assert_eq!(direct.lock().unwrap().len(), 1);
}
