//! Bodies streamed through the proxy: the request body counted on its way upstream, the
//! response body counted on its way back, and its access record written when it ends.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Frame, SizeHint};

use crate::access::{AccessRecord, AccessSink};

/// Errors a streamed body can carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response the proxy sends.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body that adds the length of each data frame to a shared counter.
#[derive(Debug)]
pub(crate) struct Counted<B> {
    inner: B,
    count: Arc<AtomicU64>,
}

impl<B> Counted<B> {
    /// Wraps `inner`, counting into `count`.
    pub(crate) fn new(inner: B, count: Arc<AtomicU64>) -> Self {
        Counted { inner, count }
    }
}

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.count.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An access record waiting for its byte counts and duration.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The record so far.
    pub record: AccessRecord,
    /// When the request arrived.
    pub started: Instant,
    /// Request bytes, counted while the body streams upstream.
    pub bytes_in: Arc<AtomicU64>,
    /// Where the record goes.
    pub sink: Arc<dyn AccessSink>,
}

impl Pending {
    /// Completes and writes the record.
    pub(crate) fn finish(mut self, bytes_out: u64, reason: Option<String>) {
        self.record.bytes_in = self.bytes_in.load(Ordering::Relaxed);
        self.record.bytes_out = bytes_out;
        self.record.duration_ms =
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if reason.is_some() {
            self.record.reason = reason;
        }
        self.sink.record(self.record);
    }
}

/// A response body that writes its access record when it ends, fails or is dropped.
pub(crate) struct Logged {
    inner: ProxyBody,
    bytes_out: u64,
    /// The upstream's `content-length`: the server stops polling once that much is written.
    expected: Option<u64>,
    pending: Option<Pending>,
}

impl std::fmt::Debug for Logged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logged")
            .field("bytes_out", &self.bytes_out)
            .finish_non_exhaustive()
    }
}

impl Logged {
    /// Wraps `inner` (of `expected` bytes, if known); `pending` is written when it finishes.
    pub(crate) fn new(inner: ProxyBody, expected: Option<u64>, pending: Pending) -> Self {
        Logged {
            inner,
            bytes_out: 0,
            expected,
            pending: Some(pending),
        }
    }

    fn finish(&mut self, reason: Option<String>) {
        if let Some(p) = self.pending.take() {
            p.finish(self.bytes_out, reason);
        }
    }
}

impl Body for Logged {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes_out += data.len() as u64;
                }
                if self.inner.is_end_stream() || self.expected == Some(self.bytes_out) {
                    self.finish(None);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let reason = format!("upstream body failed: {e}");
                self.finish(Some(reason));
            }
            Poll::Ready(None) => self.finish(None),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if self.pending.is_some() {
            // A body with nothing to send (204, HEAD) may be dropped without being polled.
            let complete = self.inner.is_end_stream() || self.expected == Some(self.bytes_out);
            let reason =
                (!complete).then(|| "client went away before the response ended".to_string());
            self.finish(reason);
        }
    }
}
