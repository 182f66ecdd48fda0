//! The pull-based generation stream: connects (with retries), reads and parses the SSE
//! body chunk by chunk, and hands out events as the model produces them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use tokio::time::Instant;
use url::Url;

use crate::assemble::Assembler;
use crate::error::{ProviderError, StreamFailure};
use crate::http::{
    connection_error, egress_error, error_chain, read_capped, request_id, scrub, status_error,
};
use crate::protocol::{Decoder, decoder};
use crate::provider::Shared;
use crate::retry::jitter;
use crate::sse::{SseEvent, SseParser};
use crate::types::{Generation, StreamEvent};
use crate::unreachable::refused_local_origin;

/// Where the stream is.
#[derive(Debug)]
enum Phase {
    /// About to send the request (after `not_before`, when retrying).
    Connect { not_before: Option<Instant> },
    /// Reading the body.
    Read(reqwest::Response),
    /// Finished successfully; queued events may remain.
    Done,
    /// Failed; the error was handed out once and is kept for `finish`.
    Failed(ProviderError),
}

/// The encoded request, ready to send as often as retries need.
#[derive(Debug)]
struct Prepared {
    url: Url,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A generation in progress. Call [`GenerationStream::next`] to receive events as they
/// arrive (and emit streaming events from them), then [`GenerationStream::finish`] for the
/// assembled [`Generation`]; or call `finish` directly.
///
/// Failures before anything was streamed are retried transparently (announced with
/// [`StreamEvent::Retrying`]); a failure after text, reasoning or a tool call was handed out
/// ends the stream with a typed error whose [`ProviderError::is_retryable`] says whether a
/// new generation may succeed. The whole generation, retries included, is bounded by the
/// client's timeout; a body silent for longer than the idle timeout counts as stalled.
///
/// `next` may be cancelled (e.g. in `select!`) while reading; a cancelled connect is
/// simply redone.
#[derive(Debug)]
pub struct GenerationStream {
    shared: Arc<Shared>,
    prepared: Result<Prepared, Option<ProviderError>>,
    phase: Phase,
    deadline: Option<Instant>,
    retries: u32,
    /// Content (not just usage or notices) was handed out: no transparent retry now.
    committed: bool,
    notices: VecDeque<StreamEvent>,
    assembler: Assembler,
    decoder: Box<dyn Decoder>,
    parser: SseParser,
    events: Vec<SseEvent>,
    request_id: Option<String>,
}

impl GenerationStream {
    pub(crate) fn new(
        shared: Arc<Shared>,
        prepared: Result<(Url, HeaderMap, Vec<u8>), ProviderError>,
        retries_used: u32,
    ) -> Self {
        let decoder = decoder(shared.spec.name, &shared.spec.protocol);
        let parser = SseParser::with_limit(shared.options.max_event_bytes);
        GenerationStream {
            prepared: prepared
                .map(|(url, headers, body)| Prepared { url, headers, body })
                .map_err(Some),
            phase: Phase::Connect { not_before: None },
            deadline: None,
            retries: retries_used,
            committed: false,
            notices: VecDeque::new(),
            assembler: Assembler::default(),
            decoder,
            parser,
            events: Vec::new(),
            request_id: None,
            shared,
        }
    }

    /// The next event, `None` once the stream has ended (successfully or after an error
    /// was returned).
    pub async fn next(&mut self) -> Option<Result<StreamEvent, ProviderError>> {
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.shared.options.timeout);
        loop {
            if let Some(n) = self.notices.pop_front() {
                return Some(Ok(n));
            }
            if let Some(ev) = self.assembler.pop_event() {
                self.committed |=
                    !matches!(ev, StreamEvent::Usage(_) | StreamEvent::Retrying { .. });
                return Some(Ok(ev));
            }
            let step = match &mut self.phase {
                Phase::Done | Phase::Failed(_) => return None,
                Phase::Connect { not_before } => {
                    if let Some(t) = *not_before {
                        tokio::time::sleep_until(t.min(deadline)).await;
                    }
                    self.connect(deadline).await
                }
                Phase::Read(response) => {
                    let step = read_step(
                        response,
                        &mut self.parser,
                        &mut self.events,
                        self.decoder.as_mut(),
                        &mut self.assembler,
                        &self.shared,
                        deadline,
                    )
                    .await;
                    match step {
                        Ok(true) => {
                            self.phase = Phase::Done;
                            Ok(())
                        }
                        Ok(false) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
            };
            if let Err(error) = step {
                let error = error.with_request_id(self.request_id.as_deref());
                if let Some(e) = self.retry_or_fail(error, deadline) {
                    return Some(Err(e));
                }
            }
        }
    }

    /// Reads the rest of the stream and returns the assembled generation (or the error
    /// that ended it, also if `next` already returned it).
    pub async fn finish(mut self) -> Result<Generation, ProviderError> {
        while let Some(ev) = self.next().await {
            ev?;
        }
        match self.phase {
            Phase::Failed(e) => Err(e),
            Phase::Done | Phase::Connect { .. } | Phase::Read(_) => {
                let provider = self.shared.spec.name;
                self.assembler
                    .into_generation(self.request_id)
                    .ok_or_else(|| {
                        crate::protocol::common::truncated(provider, "the stream ended unfinished")
                    })
            }
        }
    }

    /// Sends the request; on success moves to reading.
    async fn connect(&mut self, deadline: Instant) -> Result<(), ProviderError> {
        let shared = Arc::clone(&self.shared);
        let provider = shared.spec.name;
        let key = shared.spec.api_key.as_ref();
        let prepared = match &mut self.prepared {
            Ok(p) => p,
            Err(e) => {
                return Err(e.take().unwrap_or_else(|| ProviderError::InvalidRequest {
                    provider,
                    message: "the request could not be encoded".into(),
                }));
            }
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(self.timeout());
        }
        let wait = shared.options.idle_timeout.min(deadline - now);
        tracing::debug!(%provider, url = %prepared.url, attempt = self.retries + 1, "sending generation request");
        let target = prepared.url.clone();
        let url = match &shared.options.egress {
            Some(egress) => egress
                .route(&prepared.url)
                .map_err(|e| ProviderError::Config {
                    provider,
                    message: e.to_string(),
                })?,
            None => prepared.url.clone(),
        };
        let send = shared
            .client
            .post(url)
            .headers(prepared.headers.clone())
            .body(prepared.body.clone())
            .send();
        let mut response = match tokio::time::timeout(wait, send).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return Err(match &shared.options.egress {
                    Some(egress) => egress_error(provider, egress, &e),
                    None => match refused_local_origin(&target, &e) {
                        Some(origin) => ProviderError::Unreachable { provider, origin },
                        None => connection_error(provider, &e, key),
                    },
                });
            }
            Err(_) if Instant::now() >= deadline => return Err(self.timeout()),
            Err(_) => {
                return Err(ProviderError::Stream {
                    provider,
                    kind: StreamFailure::Stalled,
                    message: format!("no response within {} ms", wait.as_millis()),
                    request_id: None,
                });
            }
        };
        self.request_id = request_id(response.headers());
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let body = read_capped(&mut response, Duration::from_secs(5).min(wait)).await;
            return Err(status_error(
                provider,
                status,
                response.headers(),
                &body,
                key,
            ));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("application/json") {
            // Some gateways answer errors with 200 and JSON; anything else is not a stream.
            let body = read_capped(&mut response, Duration::from_secs(5).min(wait)).await;
            let err = status_error(provider, status, response.headers(), &body, key);
            return Err(match err {
                ProviderError::Api(mut api) => {
                    api.status = None;
                    api.retryable = false;
                    api.message = format!("expected an event stream, got JSON: {}", api.message);
                    ProviderError::Api(api)
                }
                other @ (ProviderError::Config { .. }
                | ProviderError::InvalidRequest { .. }
                | ProviderError::Connection { .. }
                | ProviderError::Unreachable { .. }
                | ProviderError::Stream { .. }
                | ProviderError::MalformedToolCall { .. }
                | ProviderError::Timeout { .. }) => other,
            });
        }
        self.phase = Phase::Read(response);
        Ok(())
    }

    /// After a failure: schedule a transparent retry when safe and allowed (returns
    /// `None`), else end the stream with the error.
    fn retry_or_fail(&mut self, error: ProviderError, deadline: Instant) -> Option<ProviderError> {
        let provider = self.shared.spec.name;
        let now = Instant::now();
        let remaining = deadline.saturating_duration_since(now);
        let delay = if self.committed {
            None
        } else {
            self.shared
                .options
                .retry
                .delay_for(&error, self.retries, remaining, jitter())
        };
        match delay {
            Some(delay) => {
                self.retries += 1;
                tracing::warn!(%provider, attempt = self.retries, delay_ms = delay.as_millis() as u64, error = %error, "retrying generation");
                self.notices.push_back(StreamEvent::Retrying {
                    attempt: self.retries,
                    delay,
                    reason: error.to_string(),
                });
                self.assembler = Assembler::default();
                self.decoder = decoder(provider, &self.shared.spec.protocol);
                self.parser = SseParser::with_limit(self.shared.options.max_event_bytes);
                self.events.clear();
                self.request_id = None;
                self.phase = Phase::Connect {
                    not_before: Some(now + delay),
                };
                None
            }
            None => {
                tracing::debug!(%provider, error = %error, "generation failed");
                // Events decoded just before the failure are not handed out after it.
                self.assembler = Assembler::default();
                self.phase = Phase::Failed(error.clone());
                Some(error)
            }
        }
    }

    fn timeout(&self) -> ProviderError {
        ProviderError::Timeout {
            provider: self.shared.spec.name,
            timeout: self.shared.options.timeout,
            request_id: self.request_id.clone(),
        }
    }
}

/// Reads one chunk and decodes what it completes. `Ok(true)` when the generation is
/// complete (the protocol's end marker, or a clean end of body the decoder accepts).
async fn read_step(
    response: &mut reqwest::Response,
    parser: &mut SseParser,
    events: &mut Vec<SseEvent>,
    decoder: &mut dyn Decoder,
    assembler: &mut Assembler,
    shared: &Shared,
    deadline: Instant,
) -> Result<bool, ProviderError> {
    let provider = shared.spec.name;
    let now = Instant::now();
    if now >= deadline {
        return Err(timeout_error(shared));
    }
    let idle = shared.options.idle_timeout;
    let chunk = match tokio::time::timeout(idle.min(deadline - now), response.chunk()).await {
        Ok(Ok(chunk)) => chunk,
        Ok(Err(e)) => {
            return Err(ProviderError::Stream {
                provider,
                kind: StreamFailure::Disconnected,
                message: scrub(shared.spec.api_key.as_ref(), &error_chain(&e)),
                request_id: None,
            });
        }
        Err(_) if Instant::now() >= deadline => return Err(timeout_error(shared)),
        Err(_) => {
            return Err(ProviderError::Stream {
                provider,
                kind: StreamFailure::Stalled,
                message: format!("no data for {} ms", idle.as_millis()),
                request_id: None,
            });
        }
    };
    let too_large = |e: crate::sse::EventTooLarge| ProviderError::Stream {
        provider,
        kind: StreamFailure::TooLarge,
        message: e.to_string(),
        request_id: None,
    };
    let ended = match chunk {
        Some(bytes) => {
            parser.feed(&bytes, events).map_err(too_large)?;
            false
        }
        None => {
            parser.finish(events).map_err(too_large)?;
            true
        }
    };
    for event in events.drain(..) {
        decoder.on_event(&event, assembler)?;
        if assembler.is_finished() {
            return Ok(true);
        }
    }
    if ended {
        decoder.on_end(assembler)?;
        return Ok(true);
    }
    Ok(false)
}

fn timeout_error(shared: &Shared) -> ProviderError {
    ProviderError::Timeout {
        provider: shared.spec.name,
        timeout: shared.options.timeout,
        request_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime drives streams from spawned tasks: the stream and its futures must be Send.
    #[test]
    fn streams_and_their_futures_are_send() {
        fn is_send<T: Send>(_: &T) {}
        fn check(s: &mut GenerationStream) {
            is_send(s);
            is_send(&s.next());
        }
        let _ = check;
        fn finish_is_send(s: GenerationStream) {
            is_send(&s.finish());
        }
        let _ = finish_is_send;
    }
}
