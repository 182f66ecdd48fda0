//! Starts the `llmock` peer (PyPI) on a free loopback port and drives its admin API.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Where a PyPI peer's executable lives: `$PERSTACK_TOOLS_DIR/venv/bin/<tool>`, or
/// `<workspace>/.tools/venv/bin/<tool>`. Panics (failing the test) when it is missing.
pub fn pypi_tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("PERSTACK_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools"));
    let path = dir.join("venv/bin").join(name);
    assert!(
        path.exists(),
        "peer tool {name} not found at {}; run `cargo xtask peers` (or `cargo xtask test`)",
        path.display()
    );
    path
}

/// A running llmock server, killed on drop.
#[derive(Debug)]
pub struct Llmock {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    _child: Child,
}

impl Llmock {
    /// Starts llmock and waits until it answers `/health`.
    pub async fn start() -> Llmock {
        Self::start_with(&[]).await
    }

    /// Starts llmock with extra `serve` flags.
    pub async fn start_with(flags: &[&str]) -> Llmock {
        let port = free_port();
        let child = Command::new(pypi_tool("llmock"))
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--log-level", "warning"])
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("llmock starts");
        let mock = Llmock {
            url: format!("http://127.0.0.1:{port}"),
            port,
            _child: child,
        };
        for _ in 0..300 {
            if let Some((200, _)) = mock.http("GET", "/health", None).await {
                return mock;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("llmock did not become healthy on port {port}");
    }

    /// Queues behaviours (`POST /_llmock/scenario`).
    pub async fn scenario(&self, behaviors: Value) {
        let body = json!({ "behaviors": behaviors });
        let (status, text) = self
            .http("POST", "/_llmock/scenario", Some(body))
            .await
            .expect("llmock answers");
        assert!(
            (200..300).contains(&status),
            "scenario rejected: {status} {text}"
        );
    }

    /// Forgets requests and queued behaviours (`POST /_llmock/reset`).
    pub async fn reset(&self) {
        let (status, text) = self
            .http("POST", "/_llmock/reset", Some(json!({})))
            .await
            .expect("llmock answers");
        assert!(
            (200..300).contains(&status),
            "reset failed: {status} {text}"
        );
    }

    /// The resilience verdict llmock computed from what our client did.
    pub async fn verdict(&self) -> Value {
        let (_, text) = self
            .http("GET", "/_llmock/verdict", None)
            .await
            .expect("llmock answers");
        serde_json::from_str(&text).expect("verdict JSON")
    }

    /// The verdict's findings of severity `error` (what llmock calls client bugs).
    pub async fn error_findings(&self) -> Vec<Value> {
        let verdict = self.verdict().await;
        verdict["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f["severity"] == "error")
            .collect()
    }

    /// Every request llmock received.
    pub async fn requests(&self) -> Value {
        let (_, text) = self
            .http("GET", "/_llmock/requests", None)
            .await
            .expect("llmock answers");
        serde_json::from_str(&text).expect("requests JSON")
    }

    /// A minimal HTTP/1.1 exchange with the admin API.
    async fn http(&self, method: &str, path: &str, body: Option<Value>) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.ok()?;
        let text = String::from_utf8_lossy(&out).to_string();
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        Some((status, body))
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
