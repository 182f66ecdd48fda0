//! One generation: streams it, emitting reasoning (and, for the run result, text) as
//! streaming events, within the per-generation timeout.

use perstack_core::{Message, ToolDefinition};
use perstack_events::RunEventPayload;
use perstack_providers::{Generation, GenerationRequest, GenerationSettings, StreamEvent};
use tokio::time::{Instant, timeout_at};

use super::Machine;
use super::parts::GenError;
use crate::error::RuntimeError;
use crate::stop::StopCause;

/// Which streaming events a generation emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Streaming {
    /// Reasoning only (tool-call generations: whether text is the result is not known yet).
    Reasoning,
    /// Reasoning and the result text (the final generation after `attemptCompletion`).
    ReasoningAndResult,
}

/// Why a generation produced nothing.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum GenFailure {
    /// It failed: the loop retries or stops with an error.
    Error(GenError),
    /// The stop signal fired; the generation was abandoned.
    Stopped(StopCause),
}

/// Generates from `messages` with `tools`, abandoning the generation when the stop signal
/// fires. The outer error is the runtime's (storage).
pub(super) async fn generate(
    m: &mut Machine,
    messages: Vec<Message>,
    tools: Vec<ToolDefinition>,
    streaming: Streaming,
) -> Result<Result<Generation, GenFailure>, RuntimeError> {
    let stop = m.stop.clone();
    tokio::select! {
        biased;
        name = stop.wait() => Ok(Err(GenFailure::Stopped(name))),
        done = stream_generation(m, messages, tools, streaming) => {
            done.map(|r| r.map_err(GenFailure::Error))
        }
    }
}

/// Streams one generation; a failure carries how many transparent retries the provider
/// spent on it, so that they count against the run's one `maxRetries` budget.
async fn stream_generation(
    m: &mut Machine,
    messages: Vec<Message>,
    tools: Vec<ToolDefinition>,
    streaming: Streaming,
) -> Result<Result<Generation, GenError>, RuntimeError> {
    let mut provider_retries = 0;
    let result = stream_counting(m, messages, tools, streaming, &mut provider_retries).await?;
    Ok(result.map_err(|mut e| {
        e.provider_retries = provider_retries;
        e
    }))
}

async fn stream_counting(
    m: &mut Machine,
    messages: Vec<Message>,
    tools: Vec<ToolDefinition>,
    streaming: Streaming,
    provider_retries: &mut u32,
) -> Result<Result<Generation, GenError>, RuntimeError> {
    let step_number = m.checkpoint.step_number;
    let mut settings = GenerationSettings::new(m.setting.model.clone());
    settings.max_tokens = m.setting.max_output_tokens;
    settings.reasoning_budget = m.setting.reasoning_budget;
    // One budget: the provider's transparent retries start after the runtime's own.
    settings.retries_used = m.checkpoint.retry_count.unwrap_or(0);
    // `messages` are what the cache has not seen (see `PromptCache::unseen`).
    settings.prompt_cache = Some(m.prompt.clone());
    let request = GenerationRequest {
        system: None,
        messages,
        tools,
        settings,
    };
    let deadline = Instant::now() + m.setting.timeout;
    let timed_out = || GenError {
        name: "TimeoutError".into(),
        message: format!(
            "generation timed out after {} ms",
            m.setting.timeout.as_millis()
        ),
        status_code: None,
        retryable: true,
        provider_retries: 0,
    };
    let mut stream = m.provider.stream(request);
    let mut reasoning: Option<String> = None;
    let mut result: Option<String> = None;
    loop {
        let Ok(next) = timeout_at(deadline, stream.next()).await else {
            return Ok(Err(timed_out()));
        };
        let event = match next {
            None => break,
            Some(Err(e)) => return Ok(Err(e.into())),
            Some(Ok(event)) => event,
        };
        let emit = &mut m.emitter;
        match event {
            StreamEvent::ReasoningDelta(delta) => {
                if reasoning.is_none() {
                    emit.emit(step_number, RunEventPayload::StartStreamingReasoning {})
                        .await?;
                }
                reasoning.get_or_insert_with(String::new).push_str(&delta);
                emit.emit(step_number, RunEventPayload::StreamReasoning { delta })
                    .await?;
            }
            StreamEvent::ReasoningDone(part) => {
                let started = reasoning.take().is_some();
                if !started && !part.thinking.is_empty() {
                    emit.emit(step_number, RunEventPayload::StartStreamingReasoning {})
                        .await?;
                }
                if started || !part.thinking.is_empty() {
                    emit.emit(
                        step_number,
                        RunEventPayload::CompleteStreamingReasoning {
                            text: part.thinking,
                        },
                    )
                    .await?;
                }
            }
            StreamEvent::TextDelta(delta) => {
                if streaming == Streaming::ReasoningAndResult {
                    if result.is_none() {
                        emit.emit(step_number, RunEventPayload::StartStreamingRunResult {})
                            .await?;
                    }
                    result.get_or_insert_with(String::new).push_str(&delta);
                    emit.emit(step_number, RunEventPayload::StreamRunResult { delta })
                        .await?;
                }
            }
            StreamEvent::Retrying { .. } => {
                // Retried inside the provider before anything streamed: no state change.
                // The provider logged it; only the budget needs to know.
                *provider_retries += 1;
            }
            StreamEvent::ToolCall(_) | StreamEvent::Usage(_) | StreamEvent::Finish(_) => {}
        }
    }
    let generation = match timeout_at(deadline, stream.finish()).await {
        Err(_) => return Ok(Err(timed_out())),
        Ok(Err(e)) => return Ok(Err(e.into())),
        Ok(Ok(g)) => g,
    };
    if let Some(text) = result {
        m.emitter
            .emit(
                step_number,
                RunEventPayload::CompleteStreamingRunResult { text },
            )
            .await?;
    }
    Ok(Ok(generation))
}
