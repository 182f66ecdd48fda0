//! Decoding a recorded response body offline, exactly as a live stream would be decoded:
//! for replaying recorded runs, tests and benchmarks.

use perstack_core::config::ProviderName;

use crate::assemble::Assembler;
use crate::config::Protocol;
use crate::error::{ProviderError, StreamFailure};
use crate::protocol::decoder;
use crate::sse::SseParser;
use crate::types::{Generation, StreamEvent};

/// What a recorded body decodes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The events, in order, up to the end or the error.
    pub events: Vec<StreamEvent>,
    /// The generation, or the error that ended the stream.
    pub result: Result<Generation, ProviderError>,
}

/// Decodes a body of `protocol` delivered as `chunks` (split anywhere).
pub fn replay<'a>(
    provider: ProviderName,
    protocol: &Protocol,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Replay {
    let mut parser = SseParser::new();
    let mut decoder = decoder(provider, protocol);
    let mut assembler = Assembler::default();
    let mut sse = Vec::new();
    let mut events = Vec::new();
    let too_large = |e: crate::sse::EventTooLarge| ProviderError::Stream {
        provider,
        kind: StreamFailure::TooLarge,
        message: e.to_string(),
        request_id: None,
    };
    let run = || -> Result<(), ProviderError> {
        for chunk in chunks {
            parser.feed(chunk, &mut sse).map_err(too_large)?;
            for ev in sse.drain(..) {
                decoder.on_event(&ev, &mut assembler)?;
                events.extend(std::iter::from_fn(|| assembler.pop_event()));
                if assembler.is_finished() {
                    return Ok(());
                }
            }
        }
        parser.finish(&mut sse).map_err(too_large)?;
        for ev in sse.drain(..) {
            decoder.on_event(&ev, &mut assembler)?;
            if assembler.is_finished() {
                break;
            }
        }
        if !assembler.is_finished() {
            decoder.on_end(&mut assembler)?;
        }
        events.extend(std::iter::from_fn(|| assembler.pop_event()));
        Ok(())
    };
    let outcome = run();
    let result = match outcome {
        Err(e) => Err(e),
        Ok(()) => assembler.into_generation(None).ok_or_else(|| {
            crate::protocol::common::truncated(provider, "the stream ended unfinished")
        }),
    };
    Replay { events, result }
}

/// Decodes a whole body at once.
pub fn replay_body(provider: ProviderName, protocol: &Protocol, body: &[u8]) -> Replay {
    replay(provider, protocol, [body])
}
