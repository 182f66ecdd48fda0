//! A scripted LLM server on 127.0.0.1 speaking the Anthropic Messages streaming protocol:
//! each request gets the next scripted reply; every request body is recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete `text/event-stream` body.
    Sse(String),
    /// An event-stream body, then the connection drops (no end of stream).
    SseThenDrop(String),
    /// An HTTP error with a JSON body.
    Status(u16, Value),
    /// Read the request, never answer.
    Hang,
}

impl Reply {
    /// Anthropic's 529 "overloaded".
    pub fn overloaded() -> Reply {
        Reply::Status(
            529,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        )
    }

    /// A 400 "invalid request" (never retried).
    pub fn bad_request(message: &str) -> Reply {
        Reply::Status(
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}}),
        )
    }
}

/// Replies for requests whose system prompt contains the needle.
type Route = (String, Vec<Reply>);

/// The server: replies in order; a request beyond the script gets a 400 naming that.
#[derive(Debug, Clone)]
pub struct ScriptedLlm {
    /// Base URL including `/v1`.
    pub base_url: String,
    replies: Arc<Mutex<Vec<Reply>>>,
    routes: Arc<Mutex<Vec<Route>>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl ScriptedLlm {
    /// Starts serving `replies`.
    pub async fn start(replies: Vec<Reply>) -> ScriptedLlm {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ScriptedLlm {
            base_url: format!("http://{addr}/v1"),
            replies: Arc::new(Mutex::new(replies.into_iter().rev().collect())),
            routes: Arc::new(Mutex::new(Vec::new())),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move { s.serve(socket).await });
            }
        });
        server
    }

    /// Appends replies to the script.
    pub fn push(&self, replies: Vec<Reply>) {
        let mut r = self.replies.lock().unwrap();
        for reply in replies {
            r.insert(0, reply);
        }
    }

    /// Requests whose system prompt contains `needle` get these replies, in order (for
    /// Experts that run concurrently, whose requests arrive in any order).
    pub fn route(&self, needle: &str, replies: Vec<Reply>) {
        let replies = replies.into_iter().rev().collect();
        self.routes
            .lock()
            .unwrap()
            .push((needle.to_string(), replies));
    }

    /// Request bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// Replies not used yet.
    pub fn remaining(&self) -> usize {
        self.replies.lock().unwrap().len()
    }

    async fn serve(&self, mut socket: TcpStream) {
        let Some(body) = read_request(&mut socket).await else {
            return;
        };
        let system = body["system"][0]["text"].as_str().unwrap_or("").to_string();
        self.requests.lock().unwrap().push(body);
        let routed = self
            .routes
            .lock()
            .unwrap()
            .iter_mut()
            .find(|(needle, _)| system.contains(needle.as_str()))
            .map(|(_, replies)| replies.pop());
        let reply = match routed {
            Some(reply) => reply,
            None => self.replies.lock().unwrap().pop(),
        };
        let reply = reply
            .unwrap_or_else(|| Reply::bad_request("scripted LLM: no reply left for this request"));
        let (status, content_type, body, drop_early) = match reply {
            Reply::Sse(b) => (200, "text/event-stream", b, false),
            Reply::SseThenDrop(b) => (200, "text/event-stream", b, true),
            Reply::Status(s, v) => (s, "application/json", v.to_string(), false),
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        };
        if drop_early {
            // Chunked so the client cannot tell the body is complete; then hang up.
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            let chunk = format!("{:x}\r\n{body}\r\n", body.len());
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(chunk.as_bytes()).await;
            let _ = socket.flush().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            return;
        }
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = socket.write_all(head.as_bytes()).await;
        let _ = socket.write_all(body.as_bytes()).await;
        let _ = socket.shutdown().await;
    }
}

async fn read_request(socket: &mut TcpStream) -> Option<Value> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16384];
    let head_end = loop {
        let n = socket.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = socket.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    Some(serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null))
}
