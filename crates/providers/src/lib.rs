//! LLM providers for perstack: one streaming [`Provider`] trait and its implementations for
//! the Anthropic Messages API, OpenAI Chat Completions (also Azure OpenAI and
//! OpenAI-compatible servers: Ollama, vLLM, llama.cpp, DeepSeek) and Google Gemini.
//!
//! Everything speaks the providers' real wire protocols over Server-Sent Events, parsed by
//! our own incremental [`sse`] parser. Failures come back as one typed [`ProviderError`]
//! that says whether retrying can help; transient failures before any output are retried
//! with backoff and jitter as [`RetryPolicy`] says. API keys are [`Secret`]s and never
//! appear in `Debug` output, errors or logs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), perstack_providers::ProviderError> {
//! use perstack_providers::*;
//! let config = perstack_core::config::PerstackConfig::default();
//! let provider = HttpProvider::from_config(&config, &ProcessEnv)?;
//! let mut stream = provider.stream(GenerationRequest {
//!     system: Some(SystemPrompt { text: "Be brief.".into(), cache: true }),
//!     messages: vec![perstack_core::Message::user_text("Hello")],
//!     tools: vec![],
//!     settings: GenerationSettings::new("claude-sonnet-4-5"),
//! });
//! while let Some(event) = stream.next().await {
//!     if let StreamEvent::TextDelta(text) = event? {
//!         tracing::info!("{text}");
//!     }
//! }
//! let generation = stream.finish().await?;
//! # let _ = generation; Ok(()) }
//! ```

mod assemble;
pub mod config;
mod endpoint;
pub mod env;
pub mod error;
mod http;
pub mod official;
mod prompt_cache;
mod protocol;
mod provider;
pub mod replay;
pub mod retry;
pub mod secret;
pub mod sse;
mod stream;
mod tls;
pub mod types;
mod unreachable;

pub use config::{
    AnthropicOptions, AuthStyle, KeySource, OpenAiFlavor, OpenAiOptions, Protocol, ProviderSpec,
};
pub use env::{EnvLookup, ProcessEnv};
pub use error::{ApiError, ProviderError, StreamFailure};
pub use prompt_cache::PromptCache;
pub use provider::{ClientOptions, HttpProvider, Provider};
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use stream::GenerationStream;
pub use types::{
    Generation, GenerationRequest, GenerationSettings, StopReason, StreamEvent, SystemPrompt,
};
