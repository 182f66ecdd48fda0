//! Added latency per SSE chunk through the proxy, against a direct connection.
//!
//! A loopback upstream streams 1000 chunks, each carrying the time it was sent; the client
//! notes when each arrives. `cargo xtask bench` runs it (`bench:` lines), or alone:
//!
//! ```sh
//! cargo bench -p perstack-proxy --bench proxy_latency
//! ```

#![allow(clippy::print_stdout, missing_docs)]

use std::convert::Infallible;
use std::error::Error;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use perstack_proxy::{AllowOptions, MemorySink, Proxy, ProxyConfig, SocketOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::mpsc;

const CHUNKS: usize = 1000;
const GAP: Duration = Duration::from_micros(200);

static EPOCH: OnceLock<Instant> = OnceLock::new();

fn now_ns() -> u128 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos()
}

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Streams CHUNKS events, `data: <sent-ns>`, GAP apart (a std thread, for sub-ms gaps).
async fn sse(
    _req: Request<hyper::body::Incoming>,
) -> std::result::Result<
    Response<http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>>,
    Infallible,
> {
    let (tx, rx) = mpsc::channel::<std::result::Result<Frame<Bytes>, Infallible>>(16);
    std::thread::spawn(move || {
        for _ in 0..CHUNKS {
            std::thread::sleep(GAP);
            let line = format!("data: {}\n\n", now_ns());
            if tx
                .blocking_send(Ok(Frame::data(Bytes::from(line))))
                .is_err()
            {
                return;
            }
        }
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) });
    Ok(Response::new(StreamBody::new(stream).boxed_unsync()))
}

async fn upstream() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(sse))
                    .await;
            });
        }
    });
    Ok(port)
}

/// Per-chunk delays (arrival minus sending), in microseconds.
async fn measure<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, port: u16) -> Result<Vec<f64>> {
    let request =
        format!("GET /sse HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut pending = String::new();
    let mut delays = Vec::with_capacity(CHUNKS);
    let mut buf = vec![0u8; 64 * 1024];
    while delays.len() < CHUNKS {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let arrived = now_ns();
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(start) = pending.find("data: ") {
            let rest = &pending[start + 6..];
            let Some(end) = rest.find('\n') else { break };
            if let Ok(sent) = rest[..end].trim().parse::<u128>() {
                delays.push((arrived.saturating_sub(sent)) as f64 / 1000.0);
            }
            pending = rest[end..].to_string();
        }
    }
    Ok(delays)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> Result<()> {
    now_ns();
    let port = upstream().await?;
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("egress.sock");
    let options = AllowOptions {
        allow_private: vec![format!("http://127.0.0.1:{port}")],
        ..AllowOptions::default()
    };
    let mut config = ProxyConfig::from_sources(None, &options, &|_: &str| None)?;
    config.socket = Some(SocketOptions {
        path: socket.clone(),
        mode: 0o600,
        group: None,
    });
    config.access_log = Arc::new(MemorySink::default());
    let proxy = Proxy::bind(config).await?;
    tokio::spawn(proxy.serve(std::future::pending()));

    // Warm up both paths once.
    measure(TcpStream::connect(("127.0.0.1", port)).await?, port).await?;
    measure(UnixStream::connect(&socket).await?, port).await?;

    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    for _ in 0..3 {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_nodelay(true)?;
        direct.extend(measure(tcp, port).await?);
        proxied.extend(measure(UnixStream::connect(&socket).await?, port).await?);
    }
    direct.sort_by(f64::total_cmp);
    proxied.sort_by(f64::total_cmp);
    let (d50, d99) = (percentile(&direct, 0.5), percentile(&direct, 0.99));
    let (p50, p99) = (percentile(&proxied, 0.5), percentile(&proxied, 0.99));
    println!(
        "SSE chunk latency over {} chunks ({} per run, {:?} apart), microseconds:",
        direct.len(),
        CHUNKS,
        GAP
    );
    println!("  direct   median {d50:8.1}  p99 {d99:8.1}");
    println!("  proxied  median {p50:8.1}  p99 {p99:8.1}");
    println!("  added    median {:8.1}  p99 {:8.1}", p50 - d50, p99 - d99);
    println!(
        "bench: proxy.sse_chunk_added_latency: {:.1} µs median, {:.1} µs p99 ({} chunks through perstack proxy vs direct, loopback)",
        p50 - d50,
        p99 - d99,
        proxied.len()
    );
    Ok(())
}
