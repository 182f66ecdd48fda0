//! One request: find its upstream, check it, then forward it (credential swapped, bodies
//! streamed) or tunnel it (`CONNECT`). Every outcome becomes one access record.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use perstack_sandbox::Refusal;
use perstack_sandbox::net::NetworkGuard;
use tokio::net::TcpStream;
use url::Url;

use crate::access::{AccessRecord, AccessSink, Decision, rfc3339};
use crate::allow::{Allowed, Allowlist};
use crate::body::{BoxError, Counted, Logged, Pending, ProxyBody};
use crate::config::url_host;
use crate::error::Failure;
use crate::target::{self, Form, Target};

/// A guarded way out: the guard and a client whose resolver goes through it.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// Checks addresses.
    pub guard: Arc<NetworkGuard>,
    /// Sends requests; resolves names through `guard`, follows no redirects.
    pub client: reqwest::Client,
}

/// What every request needs.
#[derive(Debug)]
pub(crate) struct State {
    /// Who may be reached.
    pub allowlist: Allowlist,
    /// For ordinary upstreams: every non-global address refused.
    pub strict: Upstream,
    /// For `--allow-private` upstreams: their addresses allowed.
    pub private: Upstream,
    /// Where records go.
    pub sink: Arc<dyn AccessSink>,
    /// Longest wait for a tunnel's TCP connection.
    pub connect_timeout: Duration,
}

/// Answers one request; never fails (failures become responses).
pub(crate) async fn handle(
    state: Arc<State>,
    client: Arc<str>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let mut record = AccessRecord {
        time: rfc3339(SystemTime::now()),
        client: client.to_string(),
        method: req.method().to_string(),
        host: String::new(),
        port: 0,
        path: String::new(),
        status: 0,
        bytes_in: 0,
        bytes_out: 0,
        decision: Decision::Refused,
        reason: None,
        credential: None,
        private_upstream: false,
        duration_ms: 0,
    };
    match dispatch(&state, req, &mut record, started).await {
        Ok(response) => Ok(response),
        Err(failure) => {
            record.status = failure.status().as_u16();
            record.decision = if failure.status().is_client_error() {
                Decision::Refused
            } else {
                Decision::Allowed
            };
            record.reason = Some(failure.message());
            record.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(0);
            state.sink.record(record);
            Ok(failure.into_response())
        }
    }
}

async fn dispatch(
    state: &State,
    req: Request<Incoming>,
    record: &mut AccessRecord,
    started: Instant,
) -> Result<Response<ProxyBody>, Failure> {
    let target = target::parse(&req)?;
    record.host = target.host.clone();
    record.port = target.port;
    record.path = target.path.clone();
    let allowed = state
        .allowlist
        .lookup(&target.host, target.port)
        .ok_or_else(|| Failure::NotAllowed {
            host: target.host.clone(),
            port: target.port,
        })?;
    record.private_upstream = allowed.private;
    let upstream = if allowed.private {
        &state.private
    } else {
        &state.strict
    };
    if target.form == Form::Connect {
        return tunnel(state, upstream, req, &target, record, started).await;
    }
    forward(state, upstream, req, &target, allowed, record, started).await
}

async fn forward(
    state: &State,
    upstream: &Upstream,
    req: Request<Incoming>,
    target: &Target,
    allowed: Allowed<'_>,
    record: &mut AccessRecord,
    started: Instant,
) -> Result<Response<ProxyBody>, Failure> {
    if let Form::Absolute(scheme) = target.form
        && scheme != allowed.scheme
    {
        return Err(Failure::SchemeMismatch {
            host: target.host.clone(),
            port: target.port,
            allowed: allowed.scheme.as_str(),
        });
    }
    let raw = format!(
        "{}://{}:{}{}",
        allowed.scheme.as_str(),
        url_host(&target.host),
        target.port,
        target.path
    );
    let url = Url::parse(&raw).map_err(|e| Failure::BadRequest(format!("{raw}: {e}")))?;
    // IP literals never reach the resolver, so the guard sees them here; names are checked
    // by the client's resolver at connect time.
    upstream.guard.check_static(&url).map_err(Failure::Guard)?;

    let (parts, body) = req.into_parts();
    let mut headers = target::forwardable(&parts.headers);
    if let Some(credential) = allowed.credential {
        let name = HeaderName::from_bytes(credential.header_name().as_bytes())
            .map_err(|e| Failure::BadRequest(e.to_string()))?;
        let mut value = HeaderValue::from_str(&credential.header_value()).map_err(|_| {
            Failure::BadRequest("the configured credential is not a valid header value".into())
        })?;
        value.set_sensitive(true);
        headers.insert(name, value);
        record.credential = Some(credential.header_name().to_string());
    }
    let bytes_in = Arc::new(AtomicU64::new(0));
    let body = reqwest::Body::wrap(Counted::new(body, bytes_in.clone()));
    let request = upstream
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .build()
        .map_err(|e| Failure::BadRequest(error_chain(&e.without_url())))?;
    let response = upstream
        .client
        .execute(request)
        .await
        .map_err(upstream_failure)?;

    let status = response.status();
    let expected = response.content_length();
    let headers = target::response_headers(response.headers());
    let stream = response
        .bytes_stream()
        .map_ok(Frame::data)
        .map_err(|e| -> BoxError { Box::new(e.without_url()) });
    record.status = status.as_u16();
    record.decision = Decision::Allowed;
    let pending = Pending {
        record: record.clone(),
        started,
        bytes_in,
        sink: state.sink.clone(),
    };
    let body = Logged::new(StreamBody::new(stream).boxed_unsync(), expected, pending);
    let mut out = Response::new(body.boxed_unsync());
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

async fn tunnel(
    state: &State,
    upstream: &Upstream,
    mut req: Request<Incoming>,
    target: &Target,
    record: &mut AccessRecord,
    started: Instant,
) -> Result<Response<ProxyBody>, Failure> {
    let addrs = upstream
        .guard
        .check_host(&target.host, target.port)
        .await
        .map_err(refusal_failure)?;
    let mut stream = connect(&addrs, state.connect_timeout).await?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    record.status = 200;
    record.decision = Decision::Allowed;
    let pending = Pending {
        record: record.clone(),
        started,
        bytes_in: Arc::new(AtomicU64::new(0)),
        sink: state.sink.clone(),
    };
    tokio::spawn(async move {
        let (reason, up, down) = match on_upgrade.await {
            Ok(upgraded) => {
                let mut client = TokioIo::new(upgraded);
                match tokio::io::copy_bidirectional(&mut client, &mut stream).await {
                    Ok((up, down)) => (None, up, down),
                    Err(e) => (Some(format!("tunnel ended with an error: {e}")), 0, 0),
                }
            }
            Err(e) => (
                Some(format!("the client did not take the tunnel: {e}")),
                0,
                0,
            ),
        };
        pending
            .bytes_in
            .store(up, std::sync::atomic::Ordering::Relaxed);
        pending.finish(down, reason);
    });
    Ok(Response::new(
        Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    ))
}

/// A TCP connection to the first of `addrs` that answers.
async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, Failure> {
    let mut last = Failure::Unreachable("no address".into());
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Failure::Unreachable(format!("connecting to {addr}: {e}")),
            Err(_) => last = Failure::Timeout(format!("connecting to {addr}")),
        }
    }
    Err(last)
}

/// A guard refusal as a failure: a name that does not resolve is unreachable, the rest are
/// refusals.
fn refusal_failure(refusal: Refusal) -> Failure {
    if matches!(refusal, Refusal::Resolve { .. }) {
        Failure::Unreachable(refusal.to_string())
    } else {
        Failure::Guard(refusal)
    }
}

/// A failed upstream request as a failure: the guard's refusal if it caused it, else a
/// timeout or an unreachable upstream.
fn upstream_failure(error: reqwest::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = source {
        if let Some(r) = e.downcast_ref::<Refusal>() {
            return refusal_failure(r.clone());
        }
        if let Some(r) = e.downcast_ref::<Box<Refusal>>() {
            return refusal_failure((**r).clone());
        }
        source = e.source();
    }
    let timeout = error.is_timeout();
    let detail = error_chain(&error.without_url());
    if timeout {
        Failure::Timeout(detail)
    } else {
        Failure::Unreachable(detail)
    }
}

/// An error and its sources, `: `-joined.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}
