//! The wire protocols: how a request is encoded and how a response stream is decoded.

pub(crate) mod anthropic;
pub(crate) mod common;
pub(crate) mod gemini;
pub(crate) mod openai;

use std::fmt;

use perstack_core::config::ProviderName;
use serde_json::Value;
use url::Url;

use perstack_core::Message;

use crate::assemble::Assembler;
use crate::config::{Protocol, ProviderSpec};
use crate::error::ProviderError;
use crate::prompt_cache::{Encoded, Seen};
use crate::sse::SseEvent;
use crate::types::GenerationRequest;

/// A request body: a JSON value, or bytes already serialized (appended to a cached prefix).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// To be serialized.
    Json(Value),
    /// Serialized.
    Bytes(Vec<u8>),
}

/// An encoded request: where to send which JSON, with protocol-specific headers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WireRequest {
    /// Full endpoint URL.
    pub url: Url,
    /// JSON body.
    pub body: Body,
    /// Protocol headers (version headers, organisation...).
    pub headers: Vec<(&'static str, String)>,
}

/// The conversation a request is for: every message, and the cache of its encoding when
/// the caller keeps one.
pub(crate) struct Conversation<'a> {
    /// Every message of the conversation.
    pub messages: &'a [Message],
    /// The encoded prefix kept between requests.
    pub encoded: Option<&'a mut Encoded>,
}

/// Decodes one provider's stream events into the assembler.
pub(crate) trait Decoder: Send + fmt::Debug {
    /// Handles one SSE event.
    fn on_event(&mut self, event: &SseEvent, out: &mut Assembler) -> Result<(), ProviderError>;
    /// The body ended cleanly; fails if the protocol's end was never seen.
    fn on_end(&mut self, out: &mut Assembler) -> Result<(), ProviderError>;
}

/// Encodes `req` for the endpoint in `spec`.
pub(crate) fn encode(
    spec: &ProviderSpec,
    req: &GenerationRequest,
) -> Result<WireRequest, ProviderError> {
    if req.settings.model.trim().is_empty() {
        return Err(ProviderError::InvalidRequest {
            provider: spec.name,
            message: "no model given".into(),
        });
    }
    // With a prompt cache, the request brings only the new messages: the conversation is
    // the cache's, which learns them here.
    let mut cache = req.settings.prompt_cache.as_ref().map(|c| c.lock());
    let (messages, encoded) = match cache.as_deref_mut() {
        Some(Seen { messages, encoded }) => {
            messages.extend(req.messages.iter().cloned());
            (messages.as_slice(), Some(encoded))
        }
        None => (req.messages.as_slice(), None),
    };
    let conv = Conversation { messages, encoded };
    match &spec.protocol {
        Protocol::Anthropic(opts) => Ok(anthropic::encode(opts, &spec.base_url, req, conv)),
        Protocol::OpenAi(opts) => openai::encode(spec.name, opts, &spec.base_url, req, conv),
        Protocol::Gemini => gemini::encode(spec.name, &spec.base_url, req, conv),
    }
}

/// A fresh decoder for one response of `protocol`.
pub(crate) fn decoder(provider: ProviderName, protocol: &Protocol) -> Box<dyn Decoder> {
    match protocol {
        Protocol::Anthropic(_) => Box::new(anthropic::AnthropicDecoder::new(provider)),
        Protocol::OpenAi(_) => Box::new(openai::OpenAiDecoder::new(provider)),
        Protocol::Gemini => Box::new(gemini::GeminiDecoder::new(provider)),
    }
}

/// `base` joined with a path suffix (the base has no trailing slash).
pub(crate) fn join(provider: ProviderName, base: &Url, suffix: &str) -> Result<Url, ProviderError> {
    let joined = format!("{}{suffix}", base.as_str().trim_end_matches('/'));
    Url::parse(&joined).map_err(|e| ProviderError::InvalidRequest {
        provider,
        message: format!("cannot build the endpoint URL: {e}"),
    })
}

/// A model id that is safe inside a URL path segment.
pub(crate) fn path_safe_model(
    provider: ProviderName,
    model: &str,
) -> Result<String, ProviderError> {
    let model = model.strip_prefix("models/").unwrap_or(model);
    if model
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'))
    {
        Ok(model.to_string())
    } else {
        Err(ProviderError::InvalidRequest {
            provider,
            message: format!("model id {model:?} cannot be used in a URL"),
        })
    }
}
