//! Test peers on real sockets: an HTTP upstream on 127.0.0.1 that records what reaches it, a
//! TCP echo server, the proxy on a Unix socket in a temporary folder, and a raw HTTP client.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use perstack_proxy::{AccessRecord, ChannelSink, Proxy, ProxyConfig, SocketOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};
use tokio::sync::{Notify, mpsc, oneshot};

/// A request as the upstream saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    /// The headers named in `names`, sorted.
    pub fn headers_named(&self, names: &[&str]) -> Vec<(String, String)> {
        let mut out: Vec<_> = self
            .headers
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .cloned()
            .collect();
        out.sort();
        out
    }
}

/// An HTTP upstream. `/sse` sends `data: one`, waits for `release`, then sends `data: two`.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub release: Arc<Notify>,
    pub second_sent: Arc<Notify>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = Upstream {
            addr: listener.local_addr().unwrap(),
            seen: Arc::default(),
            release: Arc::new(Notify::new()),
            second_sent: Arc::new(Notify::new()),
        };
        let server = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let server = server.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        async move { server.answer(req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        up
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn answer(
        &self,
        req: Request<Incoming>,
    ) -> Result<Response<http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>>, Infallible>
    {
        let method = req.method().to_string();
        let path = req.uri().to_string();
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_string()))
            .collect();
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body).to_string();
        self.seen.lock().unwrap().push(Seen {
            method,
            path: path.clone(),
            headers,
            body,
        });
        if path.starts_with("/sse") {
            let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            let release = self.release.clone();
            let second_sent = self.second_sent.clone();
            tokio::spawn(async move {
                let _ = tx.send(Ok(Frame::data(Bytes::from("data: one\n\n")))).await;
                let _ = tokio::time::timeout(Duration::from_secs(5), release.notified()).await;
                let _ = tx.send(Ok(Frame::data(Bytes::from("data: two\n\n")))).await;
                second_sent.notify_one();
            });
            let stream = tokio_stream_from(rx);
            let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
            resp.headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            return Ok(resp);
        }
        if path.starts_with("/redirect") {
            let mut resp = Response::new(Full::new(Bytes::new()).boxed_unsync());
            *resp.status_mut() = hyper::StatusCode::FOUND;
            resp.headers_mut()
                .insert("location", "http://169.254.169.254/latest".parse().unwrap());
            return Ok(resp);
        }
        Ok(Response::new(
            Full::new(Bytes::from_static(b"upstream-ok")).boxed_unsync(),
        ))
    }
}

/// A stream over an mpsc receiver.
fn tokio_stream_from<T: Send + 'static>(
    rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

/// A TCP server echoing every byte back.
pub async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A port nothing listens on.
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// A running proxy.
#[derive(Debug)]
pub struct Running {
    pub socket: PathBuf,
    pub log: mpsc::UnboundedReceiver<AccessRecord>,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
    pub dir: tempfile::TempDir,
}

impl Running {
    /// Binds `config` on a socket in a fresh folder and serves it.
    pub async fn start(mut config: ProxyConfig) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("egress.sock");
        config.socket = Some(SocketOptions {
            path: socket.clone(),
            mode: 0o600,
            group: None,
        });
        let (sink, log) = ChannelSink::new();
        config.access_log = Arc::new(sink);
        let proxy = Proxy::bind(config).await.unwrap();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            proxy
                .serve(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Running {
            socket,
            log,
            stop: Some(tx),
            task,
            dir,
        }
    }

    /// The next access record (waits up to 5 s).
    pub async fn next_record(&mut self) -> AccessRecord {
        tokio::time::timeout(Duration::from_secs(5), self.log.recv())
            .await
            .expect("an access record within 5 s")
            .expect("the log channel is open")
    }

    /// Sends raw request bytes and returns the whole response text.
    pub async fn raw(&self, request: &str) -> Reply {
        raw(&self.socket, request).await
    }
}

/// A response read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// Writes `request` on a new connection to `socket` and reads until the server closes.
pub async fn raw(socket: &Path, request: &str) -> Reply {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf))
        .await
        .expect("the response within 10 s")
        .unwrap();
    parse_reply(&String::from_utf8_lossy(&buf))
}

/// Status, headers and body of a response text (chunked bodies left encoded).
pub fn parse_reply(text: &str) -> Reply {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `record` with its time and duration blanked, for whole-value comparison.
pub fn stable(mut record: AccessRecord) -> AccessRecord {
    record.time = String::new();
    record.duration_ms = 0;
    record
}

/// An environment map from pairs.
pub fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}
