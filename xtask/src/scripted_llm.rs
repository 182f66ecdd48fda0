//! The project's scripted LLM server: speaks OpenAI Chat Completions streaming (SSE) on
//! 127.0.0.1 and answers each request with the next turn of a script. Used by
//! `cargo xtask demo` so an Expert runs end to end offline, through the real provider code.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{Value, json};

/// One scripted model turn: optional text, then tool calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// Text the model says.
    #[serde(default)]
    pub text: Option<String>,
    /// Tool calls: `{ "name": ..., "args": {...} }`.
    #[serde(default)]
    pub tool_calls: Vec<ScriptedCall>,
}

/// A scripted tool call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCall {
    /// Tool name.
    pub name: String,
    /// Arguments object.
    pub args: Value,
}

/// A running server.
pub struct ScriptedLlm {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    /// Requests answered so far.
    pub served: Arc<AtomicUsize>,
}

impl ScriptedLlm {
    /// Starts serving `script` on an ephemeral loopback port (background thread).
    pub fn start(script: Vec<Turn>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1")?;
        let port = listener.local_addr()?.port();
        let served = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&served);
        let script = Arc::new(script);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let script = Arc::clone(&script);
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    if let Err(e) = handle(stream, &script, &counter) {
                        eprintln!("scripted LLM: {e:#}");
                    }
                });
            }
        });
        Ok(ScriptedLlm {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            served,
        })
    }
}

fn handle(stream: TcpStream, script: &[Turn], counter: &AtomicUsize) -> Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut content_length = 0usize;
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("content-length")
        {
            content_length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    let mut out = stream;
    if !request_line.contains("/chat/completions") {
        out.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
        return Ok(());
    }
    let n = counter.fetch_add(1, Ordering::SeqCst);
    let fallback = Turn {
        text: Some("(the demo script has no more turns)".to_string()),
        tool_calls: Vec::new(),
    };
    let turn = script.get(n).unwrap_or(&fallback);
    out.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    )?;
    for chunk in sse_chunks(turn, n) {
        out.write_all(format!("data: {chunk}\n\n").as_bytes())?;
        out.flush()?;
    }
    out.write_all(b"data: [DONE]\n\n")?;
    out.flush()?;
    Ok(())
}

fn chunk(n: usize, choices: Value, usage: Option<Value>) -> String {
    let mut v = json!({
        "id": format!("chatcmpl-demo-{n}"),
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "demo",
        "choices": choices,
    });
    if let Some(u) = usage {
        v["usage"] = u;
    }
    v.to_string()
}

/// The OpenAI streaming chunks for one turn: text in a few deltas, tool calls with their
/// arguments split in two pieces (as real servers do), finish reason, usage.
fn sse_chunks(turn: &Turn, n: usize) -> Vec<String> {
    let mut out = vec![chunk(
        n,
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        None,
    )];
    if let Some(text) = &turn.text {
        let words: Vec<&str> = text.split_inclusive(' ').collect();
        for piece in words.chunks(3) {
            out.push(chunk(
                n,
                json!([{"index": 0, "delta": {"content": piece.concat()}, "finish_reason": null}]),
                None,
            ));
        }
    }
    for (i, call) in turn.tool_calls.iter().enumerate() {
        let args = call.args.to_string();
        let mid = args
            .char_indices()
            .nth(args.chars().count() / 2)
            .map_or(0, |(p, _)| p);
        let (a, b) = args.split_at(mid);
        out.push(chunk(
            n,
            json!([{"index": 0, "delta": {"tool_calls": [{"index": i, "id": format!("call_{n}_{i}"), "type": "function",
                "function": {"name": call.name, "arguments": a}}]}, "finish_reason": null}]),
            None,
        ));
        out.push(chunk(
            n,
            json!([{"index": 0, "delta": {"tool_calls": [{"index": i, "function": {"arguments": b}}]}, "finish_reason": null}]),
            None,
        ));
    }
    let finish = if turn.tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    out.push(chunk(
        n,
        json!([{"index": 0, "delta": {}, "finish_reason": finish}]),
        None,
    ));
    out.push(chunk(
        n,
        json!([]),
        Some(json!({"prompt_tokens": 120 + 40 * n, "completion_tokens": 30, "total_tokens": 150 + 40 * n})),
    ));
    out
}
