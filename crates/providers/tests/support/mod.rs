//! Test support: a scripted HTTP/SSE server on 127.0.0.1, fixtures and request builders (the
//! llmock peer launcher is `perstack_testkit::Llmock`).

#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: failing loudly is the point

pub mod chat;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use perstack_core::config::{ProviderName, ReasoningBudget, ReasoningLevel};
use perstack_core::{Message, ToolDefinition};
use perstack_providers::{
    AnthropicOptions, AuthStyle, ClientOptions, GenerationRequest, GenerationSettings,
    HttpProvider, OpenAiFlavor, OpenAiOptions, Protocol, ProviderSpec, RetryPolicy, Secret,
    SystemPrompt,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The API key every test provider uses; tests check it never leaks.
pub const TEST_KEY: &str = "sk-test-key-0123456789abcdefghij";

/// How a scripted SSE response ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The chunked body's terminator, then close.
    Clean,
    /// Drop the connection mid-body (no terminator).
    Disconnect,
    /// Keep the connection open and send nothing more.
    Stall,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A `text/event-stream` body sent as the given chunks (each flushed on its own).
    Sse {
        headers: Vec<(String, String)>,
        chunks: Vec<Vec<u8>>,
        end: End,
    },
    /// A complete response.
    Body {
        status: u16,
        headers: Vec<(String, String)>,
        content_type: String,
        body: Vec<u8>,
    },
    /// Read the request, then never answer.
    Hang,
}

impl Reply {
    /// An SSE body in one chunk, ending cleanly.
    pub fn sse(body: &str) -> Reply {
        Reply::Sse {
            headers: vec![("request-id".into(), "req_scripted".into())],
            chunks: vec![body.as_bytes().to_vec()],
            end: End::Clean,
        }
    }

    /// An SSE body cut into pieces of `size` bytes.
    pub fn sse_chunked(body: &str, size: usize) -> Reply {
        Reply::Sse {
            headers: vec![("request-id".into(), "req_scripted".into())],
            chunks: body
                .as_bytes()
                .chunks(size.max(1))
                .map(<[u8]>::to_vec)
                .collect(),
            end: End::Clean,
        }
    }

    /// An SSE body that ends with `end` after `body`.
    pub fn sse_then(body: &str, end: End) -> Reply {
        Reply::Sse {
            headers: vec![],
            chunks: vec![body.as_bytes().to_vec()],
            end,
        }
    }

    /// A JSON error response.
    pub fn error(status: u16, headers: &[(&str, &str)], body: Value) -> Reply {
        Reply::Body {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            content_type: "application/json".into(),
            body: body.to_string().into_bytes(),
        }
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body as JSON (`Null` if not JSON).
    pub body: Value,
}

impl Recorded {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A scripted server: answers requests with the replies given, in order (500 after).
#[derive(Debug, Clone)]
pub struct ScriptedServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    replies: Arc<Mutex<Vec<Reply>>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl ScriptedServer {
    /// Starts a server with `replies`.
    pub async fn start(replies: Vec<Reply>) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ScriptedServer {
            url: format!("http://{addr}"),
            replies: Arc::new(Mutex::new(replies.into_iter().rev().collect())),
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

    /// Adds replies at the end of the script.
    pub fn push(&self, reply: Reply) {
        self.replies.lock().unwrap().insert(0, reply);
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    async fn serve(&self, mut socket: TcpStream) {
        let Some(request) = read_request(&mut socket).await else {
            return;
        };
        self.requests.lock().unwrap().push(request);
        let reply = self.replies.lock().unwrap().pop();
        let reply = reply.unwrap_or_else(|| {
            Reply::error(500, &[], json!({"error": {"message": "script exhausted"}}))
        });
        match reply {
            Reply::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
            Reply::Body {
                status,
                headers,
                content_type,
                body,
            } => {
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            }
            Reply::Sse {
                headers,
                chunks,
                end,
            } => {
                let mut head = String::from(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n",
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for chunk in chunks {
                    if chunk.is_empty() {
                        continue;
                    }
                    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                    framed.extend_from_slice(&chunk);
                    framed.extend_from_slice(b"\r\n");
                    if socket.write_all(&framed).await.is_err() || socket.flush().await.is_err() {
                        return;
                    }
                }
                match end {
                    End::Clean => {
                        let _ = socket.write_all(b"0\r\n\r\n").await;
                        let _ = socket.shutdown().await;
                    }
                    End::Disconnect => drop(socket),
                    End::Stall => tokio::time::sleep(Duration::from_secs(3600)).await,
                }
            }
        }
    }
}

async fn read_request(socket: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
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
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = socket.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(Recorded {
        method,
        target,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

/// The three protocol families, with the provider name tests use for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Chat Completions.
    OpenAi,
    /// An OpenAI-compatible server (Ollama-style).
    Compatible,
    /// Gemini.
    Gemini,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [
        Kind::Anthropic,
        Kind::OpenAi,
        Kind::Compatible,
        Kind::Gemini,
    ];

    /// The provider name used in errors.
    pub fn name(self) -> ProviderName {
        match self {
            Kind::Anthropic => ProviderName::Anthropic,
            Kind::OpenAi => ProviderName::OpenAi,
            Kind::Compatible => ProviderName::Ollama,
            Kind::Gemini => ProviderName::Google,
        }
    }

    /// The protocol.
    pub fn protocol(self) -> Protocol {
        match self {
            Kind::Anthropic => Protocol::Anthropic(AnthropicOptions {
                version: "2023-06-01".into(),
            }),
            Kind::OpenAi => Protocol::OpenAi(OpenAiOptions {
                flavor: OpenAiFlavor::OpenAi,
                organization: None,
                project: None,
            }),
            Kind::Compatible => Protocol::OpenAi(OpenAiOptions {
                flavor: OpenAiFlavor::Compatible,
                organization: None,
                project: None,
            }),
            Kind::Gemini => Protocol::Gemini,
        }
    }

    /// A model id the mocks accept.
    pub fn model(self) -> &'static str {
        match self {
            Kind::Anthropic => "claude-sonnet-4-6",
            Kind::OpenAi | Kind::Compatible => "gpt-4o",
            Kind::Gemini => "gemini-2.5-pro",
        }
    }

    /// The spec for an endpoint at `base_url`.
    pub fn spec(self, base_url: &str) -> ProviderSpec {
        ProviderSpec {
            name: self.name(),
            base_url: url::Url::parse(base_url).unwrap(),
            api_key: Some(Secret::new(TEST_KEY)),
            auth: match self {
                Kind::Anthropic => AuthStyle::Header("x-api-key".into()),
                Kind::OpenAi | Kind::Compatible => AuthStyle::Bearer,
                Kind::Gemini => AuthStyle::Header("x-goog-api-key".into()),
            },
            headers: vec![],
            protocol: self.protocol(),
        }
    }
}

/// Options fit for tests: no env proxies, fast backoff, short idle timeout.
pub fn test_options() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(5),
        },
        timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        max_event_bytes: 1 << 20,
        use_env_proxy: false,
        egress: None,
    }
}

/// A provider of `kind` talking to `base_url` with `options`.
pub fn provider(kind: Kind, base_url: &str, options: ClientOptions) -> HttpProvider {
    HttpProvider::new(kind.spec(base_url), options).unwrap()
}

/// The tool the conversations use.
pub fn weather_tool() -> ToolDefinition {
    ToolDefinition {
        skill_name: "weather".into(),
        name: "get_weather".into(),
        description: Some("Get the current weather for a city.".into()),
        input_schema: json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": false
        })
        .into(),
    }
}

/// A request with the weather tool and reasoning off.
pub fn request(kind: Kind, messages: Vec<Message>) -> GenerationRequest {
    let mut settings = GenerationSettings::new(kind.model());
    settings.max_tokens = 512;
    settings.reasoning_budget = ReasoningBudget::Level(ReasoningLevel::None);
    GenerationRequest {
        system: Some(SystemPrompt {
            text: "You are a weather assistant.".into(),
            cache: true,
        }),
        messages,
        tools: vec![weather_tool()],
        settings,
    }
}

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `text` with LF line endings turned into CRLF.
pub fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}
