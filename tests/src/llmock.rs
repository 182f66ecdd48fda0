//! The `llmock` peer (PyPI): a scripted OpenAI/Anthropic/Gemini mock with fault injection.
//! Started on a free loopback port and driven through its admin API with plain std I/O, so
//! sync tests (the CLI's) and async ones (the providers') share one copy.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where a PyPI peer's executable lives: `$PERSTACK_TOOLS_DIR/venv/bin/<tool>`, or
/// `<workspace>/.tools/venv/bin/<tool>`. `Err` says how to install it when it is missing.
pub fn pypi_tool(name: &str) -> Result<PathBuf, String> {
    let dir = std::env::var_os("PERSTACK_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools"));
    let path = dir.join("venv/bin").join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "peer tool {name} not found at {}; run `cargo xtask peers` (or `cargo xtask test`)",
            path.display()
        ))
    }
}

/// The protocol families llmock serves, each under its own path prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Anthropic Messages (`/anthropic/v1`).
    Anthropic,
    /// OpenAI Chat Completions (`/v1`).
    OpenAi,
    /// Gemini (`/gemini/v1beta`).
    Gemini,
}

/// A running llmock server, killed on drop.
#[derive(Debug)]
pub struct Llmock {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    child: Child,
}

impl Drop for Llmock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Llmock {
    /// Starts llmock and waits until it answers `/health`. Panics (failing the test) when
    /// the tool is missing or does not come up.
    pub fn start() -> Llmock {
        Self::start_with(&[])
    }

    /// Starts llmock with extra `serve` flags.
    pub fn start_with(flags: &[&str]) -> Llmock {
        let tool = pypi_tool("llmock").unwrap_or_else(|e| panic!("{e}"));
        let port = free_port().unwrap_or_else(|e| panic!("no free port: {e}"));
        let child = Command::new(tool)
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--log-level", "warning"])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("llmock does not start: {e}"));
        let mut mock = Llmock {
            url: format!("http://127.0.0.1:{port}"),
            port,
            child,
        };
        // Generous: a cold Python start on a loaded machine.
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok((200, _)) = mock.http("GET", "/health", None) {
                return mock;
            }
            if let Ok(Some(status)) = mock.child.try_wait() {
                panic!("llmock exited before becoming healthy: {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("llmock did not become healthy on port {port}");
    }

    /// The base URL a provider of `api` is pointed at.
    pub fn base_url(&self, api: Api) -> String {
        match api {
            Api::Anthropic => format!("{}/anthropic/v1", self.url),
            Api::OpenAi => format!("{}/v1", self.url),
            Api::Gemini => format!("{}/gemini/v1beta", self.url),
        }
    }

    /// Queues behaviours (`POST /_llmock/scenario`), e.g.
    /// `[{"type": "reply", "tool_calls": [{"name": "t", "arguments": {}}]}]`.
    pub fn scenario(&self, behaviors: Value) {
        let body = json!({ "behaviors": behaviors });
        match self.http("POST", "/_llmock/scenario", Some(body)) {
            Ok((status, _)) if (200..300).contains(&status) => {}
            Ok((status, text)) => panic!("scenario rejected: {status} {text}"),
            Err(e) => panic!("llmock does not answer: {e}"),
        }
    }

    /// Forgets requests and queued behaviours (`POST /_llmock/reset`).
    pub fn reset(&self) {
        match self.http("POST", "/_llmock/reset", Some(json!({}))) {
            Ok((status, _)) if (200..300).contains(&status) => {}
            Ok((status, text)) => panic!("reset failed: {status} {text}"),
            Err(e) => panic!("llmock does not answer: {e}"),
        }
    }

    /// The resilience verdict llmock computed from what our client did.
    pub fn verdict(&self) -> Value {
        self.get_json("/_llmock/verdict")
    }

    /// The verdict's findings of severity `error` (what llmock calls client bugs).
    pub fn error_findings(&self) -> Vec<Value> {
        self.verdict()["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f["severity"] == "error")
            .collect()
    }

    /// Every request llmock received (`{"count": n, "requests": [...]}`).
    pub fn requests(&self) -> Value {
        self.get_json("/_llmock/requests")
    }

    fn get_json(&self, path: &str) -> Value {
        match self.http("GET", path, None) {
            Ok((_, text)) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}")),
            Err(e) => panic!("llmock does not answer {path}: {e}"),
        }
    }

    /// A minimal HTTP/1.1 exchange with the admin API.
    fn http(&self, method: &str, path: &str, body: Option<Value>) -> io::Result<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        let text = String::from_utf8_lossy(&out).to_string();
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response");
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        Ok((status, body))
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

fn free_port() -> io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
