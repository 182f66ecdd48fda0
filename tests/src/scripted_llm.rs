//! The project's scripted LLM server: speaks OpenAI Chat Completions streaming (SSE) on
//! 127.0.0.1 and answers each request with the next turn of a script.
//!
//! A turn is what the model says (text, tool calls), or a provider failure (`status`), and may
//! be held back (`delayMs`) so a test can signal a run in the middle of a generation. Request
//! bodies are recorded so tests can check what the runtime sent, and when each request arrived
//! and was answered (`cargo xtask bench` measures clients with it). The same script is served
//! on `/responses` in the OpenAI Responses API's streaming form, for clients that speak only
//! that (codex).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

/// One scripted model turn: optional text, then tool calls; or an HTTP failure.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Turn {
    /// Text the model says.
    #[serde(default)]
    pub text: Option<String>,
    /// Tool calls: `{ "name": ..., "args": {...} }`.
    #[serde(default, alias = "tool_calls")]
    pub tool_calls: Vec<ScriptedCall>,
    /// Answer with this HTTP status and an OpenAI-shaped error body instead of a stream
    /// (529 and 429 carry `retry-after-ms: 10` so retries are quick).
    #[serde(default)]
    pub status: Option<u16>,
    /// Wait this long before answering.
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

impl Turn {
    /// A turn that only says `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Turn {
            text: Some(text.into()),
            ..Turn::default()
        }
    }

    /// A turn that calls one tool.
    pub fn call(name: impl Into<String>, args: Value) -> Self {
        Turn {
            tool_calls: vec![ScriptedCall {
                name: name.into(),
                args,
            }],
            ..Turn::default()
        }
    }

    /// A turn that fails with HTTP `status`.
    pub fn failure(status: u16) -> Self {
        Turn {
            status: Some(status),
            ..Turn::default()
        }
    }

    /// The same turn, answered after `ms` milliseconds.
    pub fn delayed(mut self, ms: u64) -> Self {
        self.delay_ms = Some(ms);
        self
    }
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

/// A running server; it serves until the process exits.
#[derive(Debug)]
pub struct ScriptedLlm {
    /// `http://127.0.0.1:PORT/v1`, for `OPENAI_BASE_URL`.
    pub base_url: String,
    served: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Value>>>,
    timings: Arc<Mutex<Vec<Timing>>>,
}

/// When one model request arrived (its head read) and when its answer was fully written.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The request line was read.
    pub received: Instant,
    /// The last byte of the answer was written.
    pub answered: Instant,
}

/// How a [`ScriptedLlm`] picks turns and what it keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Answer each request with the turn at its conversation's depth (the number of assistant
    /// turns the request already holds) instead of the next turn in arrival order, so many
    /// conversations can follow one script at once. Each scripted turn must then be either
    /// text or one tool call (a turn with both counts twice in the history).
    pub by_depth: bool,
    /// Do not keep request bodies ([`ScriptedLlm::requests`] stays empty): long benchmarks.
    pub discard_bodies: bool,
}

struct Shared {
    script: Vec<Turn>,
    options: Options,
    served: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Value>>>,
    timings: Arc<Mutex<Vec<Timing>>>,
}

impl ScriptedLlm {
    /// Starts serving `script` on an ephemeral loopback port (background threads).
    pub fn start(script: Vec<Turn>) -> io::Result<Self> {
        Self::start_with(script, Options::default())
    }

    /// Like [`ScriptedLlm::start`], with `options`.
    pub fn start_with(script: Vec<Turn>, options: Options) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let served = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let timings = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            script,
            options,
            served: Arc::clone(&served),
            requests: Arc::clone(&requests),
            timings: Arc::clone(&timings),
        });
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    if let Err(e) = handle(stream, &shared) {
                        eprintln!("scripted LLM: {e}");
                    }
                });
            }
        });
        Ok(ScriptedLlm {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            served,
            requests,
            timings,
        })
    }

    /// Reads a script (a JSON array of turns) from `path` and starts serving it.
    pub fn from_file(path: &std::path::Path) -> io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let script: Vec<Turn> = serde_json::from_str(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a script of turns: {e}", path.display()),
            )
        })?;
        Self::start(script)
    }

    /// Chat-completion requests answered so far (failures included).
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// The JSON bodies of the chat-completion requests received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// When each model request answered so far arrived and was answered, in arrival order.
    pub fn timings(&self) -> Vec<Timing> {
        let mut t = self
            .timings
            .lock()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        t.sort_by_key(|t| t.received);
        t
    }
}

fn read_request(stream: &TcpStream) -> io::Result<(String, Vec<u8>, Instant)> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut content_length = 0usize;
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let received = Instant::now();
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
    Ok((request_line, body, received))
}

fn handle(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let (request_line, body, received) = read_request(&stream)?;
    let mut out = stream;
    let responses_api = request_line.contains("/responses");
    if !request_line.contains("/chat/completions") && !responses_api {
        out.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
        return Ok(());
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let served = shared.served.fetch_add(1, Ordering::SeqCst);
    let n = if shared.options.by_depth {
        depth(&body)
    } else {
        served
    };
    if shared.options.discard_bodies {
        // Freed before answering: freeing a long conversation's tree is this server's work,
        // and done after the answer it would take CPU from the client being timed.
        drop(body);
    } else if let Ok(mut r) = shared.requests.lock() {
        r.push(body);
    }
    let fallback = Turn::text("(the script has no more turns)");
    let turn = shared.script.get(n).unwrap_or(&fallback);
    if let Some(ms) = turn.delay_ms {
        std::thread::sleep(Duration::from_millis(ms));
    }
    if let Some(status) = turn.status {
        return write_failure(&mut out, status);
    }
    out.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    )?;
    if responses_api {
        for (event, data) in crate::responses_api::events(turn, n) {
            out.write_all(format!("event: {event}\ndata: {data}\n\n").as_bytes())?;
            out.flush()?;
        }
    } else {
        for chunk in sse_chunks(turn, n) {
            out.write_all(format!("data: {chunk}\n\n").as_bytes())?;
            out.flush()?;
        }
        out.write_all(b"data: [DONE]\n\n")?;
    }
    out.flush()?;
    let answered = Instant::now();
    if let Ok(mut t) = shared.timings.lock() {
        t.push(Timing { received, answered });
    }
    Ok(())
}

/// The assistant turns a request's conversation already holds: Chat Completions `messages`
/// with role `assistant`, or Responses API `input` items that are assistant messages or
/// function calls.
fn depth(body: &Value) -> usize {
    let items = body
        .get("messages")
        .or_else(|| body.get("input"))
        .and_then(Value::as_array);
    items.map_or(0, |items| {
        items
            .iter()
            .filter(|m| {
                m.get("role").and_then(Value::as_str) == Some("assistant")
                    || m.get("type").and_then(Value::as_str) == Some("function_call")
            })
            .count()
    })
}

fn write_failure(out: &mut TcpStream, status: u16) -> io::Result<()> {
    let body = json!({"error": {
        "message": format!("scripted failure {status}"),
        "type": if status == 529 { "overloaded_error" } else { "scripted_error" },
    }})
    .to_string();
    let retry = if matches!(status, 429 | 529) {
        "retry-after-ms: 10\r\n"
    } else {
        ""
    };
    out.write_all(
        format!(
            "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\n{retry}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )?;
    out.flush()
}

fn chunk(n: usize, choices: Value, usage: Option<Value>) -> String {
    let mut v = json!({
        "id": format!("chatcmpl-scripted-{n}"),
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "scripted",
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

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn post(base: &str, body: &str) -> String {
        let addr = base.trim_start_matches("http://").trim_end_matches("/v1");
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn turns_are_served_in_order_and_requests_recorded() {
        let llm = ScriptedLlm::start(vec![
            Turn::failure(529),
            Turn::call("readTextFile", json!({"path": "a.md"})),
            Turn::text("done"),
        ])
        .unwrap();
        let first = post(&llm.base_url, r#"{"n":1}"#);
        assert!(first.starts_with("HTTP/1.1 529"), "{first}");
        assert!(first.contains("retry-after-ms: 10"), "{first}");
        let second = post(&llm.base_url, r#"{"n":2}"#);
        assert!(second.contains(r#""name":"readTextFile""#), "{second}");
        assert!(
            second.contains(r#""finish_reason":"tool_calls""#),
            "{second}"
        );
        let third = post(&llm.base_url, r#"{"n":3}"#);
        assert!(third.contains(r#""content":"done""#), "{third}");
        assert!(third.ends_with("data: [DONE]\n\n"), "{third}");
        assert_eq!(llm.served(), 3);
        assert_eq!(
            llm.requests(),
            vec![json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]
        );
        // The failure is not timed (no stream); the two streams are, in order.
        let t = llm.timings();
        assert_eq!(t.len(), 2);
        assert!(t.iter().all(|t| t.received <= t.answered));
        assert!(t[0].answered <= t[1].received);
    }

    #[test]
    fn by_depth_each_conversation_follows_the_script() {
        let llm = ScriptedLlm::start_with(
            vec![Turn::call("todo", json!({})), Turn::text("done")],
            Options {
                by_depth: true,
                discard_bodies: true,
            },
        )
        .unwrap();
        let fresh = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
        let later = r#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[]},{"role":"tool"}]}"#;
        assert!(post(&llm.base_url, fresh).contains(r#""name":"todo""#));
        assert!(post(&llm.base_url, fresh).contains(r#""name":"todo""#));
        assert!(post(&llm.base_url, later).contains(r#""content":"done""#));
        let responses = r#"{"input":[{"type":"message","role":"user"},{"type":"function_call"},{"type":"function_call_output"}]}"#;
        assert_eq!(depth(&serde_json::from_str(responses).unwrap()), 1);
        assert_eq!(llm.served(), 3);
        assert_eq!(llm.requests(), Vec::<Value>::new());
    }

    #[test]
    fn the_responses_api_serves_the_same_script() {
        let llm =
            ScriptedLlm::start(vec![Turn::call("shell", json!({"command": ["ls"]}))]).unwrap();
        let addr = llm
            .base_url
            .trim_start_matches("http://")
            .trim_end_matches("/v1");
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{{}}"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.contains("event: response.output_item.done\n"), "{out}");
        assert!(out.contains(r#""name":"shell""#), "{out}");
        assert!(out.trim_end().ends_with('}'), "{out}");
        assert_eq!(llm.served(), 1);
    }

    #[test]
    fn scripts_parse_from_json_and_reject_unknown_keys() {
        let turns: Vec<Turn> = serde_json::from_str(
            r#"[{"text":"hi","tool_calls":[{"name":"todo","args":{}}]},{"status":429,"delayMs":5}]"#,
        )
        .unwrap();
        assert_eq!(turns[0].tool_calls[0].name, "todo");
        assert_eq!(turns[1].status, Some(429));
        assert_eq!(turns[1].delay_ms, Some(5));
        let bad = serde_json::from_str::<Vec<Turn>>(r#"[{"txet":"hi"}]"#).unwrap_err();
        assert!(bad.to_string().contains("unknown field `txet`"), "{bad}");
    }
}
