//! MCP tasks (2025-11-25): a tool whose `execution.taskSupport` is `"required"` must be
//! called as a task (`tools/call` with `task`, then `tasks/get` and `tasks/result`), and a
//! server answers a plain call with -32601. The host does not call tools as tasks (rmcp
//! 3.11 speaks a later tasks extension, SEP-2663, that servers of this revision do not),
//! so such tools are not offered to the model.
//!
//! rmcp's `Tool` type drops the `execution` field, so the host reads it from the server's
//! raw messages: the bytes of a stdio child's stdout ([`TapRead`]) and the events of a
//! streamable HTTP server's SSE responses ([`TapHttp`]). A remote server that answers
//! `tools/list` with a plain JSON body (not SSE) is not seen; its task-only tools are
//! offered and fail when called.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures::StreamExt;
use futures::stream::BoxStream;
use perstack_core::ToolDefinition;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use serde_json::Value;
use sse_stream::Sse;
use tokio::io::{AsyncRead, ReadBuf};

/// Longest stdout line inspected; a longer one passes through unread.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// How a server lists each tool's `execution.taskSupport`, as seen in its raw messages.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskSupport(Arc<Mutex<BTreeMap<String, String>>>);

impl TaskSupport {
    /// Notes the tools of `message` if it is a `tools/list` result.
    fn note(&self, message: &str) {
        if !message.contains("taskSupport") {
            return;
        }
        let Ok(value) = serde_json::from_str::<Value>(message) else {
            return;
        };
        let Some(tools) = value.pointer("/result/tools").and_then(Value::as_array) else {
            return;
        };
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for tool in tools {
            let name = tool.get("name").and_then(Value::as_str);
            let support = tool
                .pointer("/execution/taskSupport")
                .and_then(Value::as_str);
            if let (Some(name), Some(support)) = (name, support) {
                seen.insert(name.to_string(), support.to_string());
            }
        }
    }

    /// Whether `tool` can only be called as a task.
    pub fn required(&self, tool: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tool)
            .is_some_and(|s| s == "required")
    }
}

/// Why a task-only tool is not offered (the `reason` of `skillToolsNotOffered`).
pub(crate) const TASK_ONLY_REASON: &str = "it can only be called as an MCP task (execution.taskSupport \"required\"), which perstack does not do";

/// `tools` without those that can only be called as tasks, and the names of those; each one
/// is logged as a warning naming the skill and the tool.
pub(crate) fn without_task_only(
    skill: &str,
    tools: Vec<ToolDefinition>,
    tasks: &TaskSupport,
) -> (Vec<ToolDefinition>, Vec<String>) {
    let (dropped, kept): (Vec<_>, Vec<_>) =
        tools.into_iter().partition(|t| tasks.required(&t.name));
    let dropped: Vec<String> = dropped.into_iter().map(|t| t.name).collect();
    for name in &dropped {
        tracing::warn!("skill \"{skill}\": tool \"{name}\" is not offered: {TASK_ONLY_REASON}");
    }
    (kept, dropped)
}

/// A stdio server's stdout, passed through unchanged, each line shown to a [`TaskSupport`].
pub(crate) struct TapRead<R> {
    inner: R,
    line: Vec<u8>,
    overlong: bool,
    seen: TaskSupport,
}

impl<R> TapRead<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, seen: TaskSupport) -> Self {
        TapRead {
            inner,
            line: Vec::new(),
            overlong: false,
            seen,
        }
    }

    fn scan(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|b| *b == b'\n') {
            self.push(&bytes[..end]);
            if !self.overlong {
                self.seen.note(&String::from_utf8_lossy(&self.line));
            }
            self.line.clear();
            self.overlong = false;
            bytes = &bytes[end + 1..];
        }
        self.push(bytes);
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.line.len() + bytes.len() > MAX_LINE {
            self.overlong = true;
            self.line.clear();
        }
        if !self.overlong {
            self.line.extend_from_slice(bytes);
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for TapRead<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let fresh = buf.filled()[before..].to_vec();
            self.scan(&fresh);
        }
        polled
    }
}

/// A streamable HTTP client whose SSE responses are shown to a [`TaskSupport`].
#[derive(Clone)]
pub(crate) struct TapHttp<C> {
    inner: C,
    seen: TaskSupport,
}

impl<C> TapHttp<C> {
    /// Wraps `inner`.
    pub fn new(inner: C, seen: TaskSupport) -> Self {
        TapHttp { inner, seen }
    }

    fn tap(&self, response: StreamableHttpPostResponse) -> StreamableHttpPostResponse {
        // A JSON body arrives already parsed (without `execution`): only SSE can be read.
        let StreamableHttpPostResponse::Sse(stream, session) = response else {
            return response;
        };
        let seen = self.seen.clone();
        let stream = stream.inspect(move |event| {
            if let Ok(Sse {
                data: Some(data), ..
            }) = event
            {
                seen.note(data);
            }
        });
        StreamableHttpPostResponse::Sse(stream.boxed(), session)
    }
}

type Error<C> = StreamableHttpError<<C as StreamableHttpClient>::Error>;

impl<C: StreamableHttpClient + Sync> StreamableHttpClient for TapHttp<C> {
    type Error = C::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Error<C>> {
        let limits = StreamableHttpResponseLimits::default();
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Error<C>> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Error<C>> {
        let response = self
            .inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await?;
        Ok(self.tap(response))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Error<C>> {
        self.inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error<C>> {
        self.inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error<C>> {
        self.inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use tokio::io::AsyncReadExt;

    const LISTED: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","inputSchema":{}},{"name":"research","inputSchema":{},"execution":{"taskSupport":"required"}},{"name":"maybe","inputSchema":{},"execution":{"taskSupport":"optional"}}]}}"#;

    #[tokio::test]
    async fn stdout_passes_through_and_task_only_tools_are_seen() {
        let text = format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{{}}}}\n{LISTED}\n");
        let seen = TaskSupport::default();
        // One byte at a time: lines are put together across reads.
        let slow = tokio_test_reader(text.as_bytes());
        let mut tap = TapRead::new(slow, seen.clone());
        let mut out = String::new();
        tap.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, text);
        let verdicts: Vec<bool> = ["echo", "research", "maybe", "other"]
            .iter()
            .map(|t| seen.required(t))
            .collect();
        assert_eq!(verdicts, vec![false, true, false, false]);
    }

    #[test]
    fn other_messages_and_garbage_are_ignored() {
        let seen = TaskSupport::default();
        for message in [
            r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"taskSupport":"required","name":"x"}}"#,
            r#"{"result":{"tools":[{"execution":{"taskSupport":"required"}}]}}"#,
            "taskSupport not json",
        ] {
            seen.note(message);
        }
        assert!(!seen.required("x"));
    }

    fn tokio_test_reader(bytes: &[u8]) -> impl AsyncRead + Unpin {
        struct OneByte(Vec<u8>, usize);
        impl AsyncRead for OneByte {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<std::io::Result<()>> {
                if let Some(b) = self.0.get(self.1).copied() {
                    buf.put_slice(&[b]);
                    self.1 += 1;
                }
                Poll::Ready(Ok(()))
            }
        }
        OneByte(bytes.to_vec(), 0)
    }
}
