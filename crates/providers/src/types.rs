//! What a generation is asked for and what it yields.

use std::time::Duration;

use perstack_core::config::{ReasoningBudget, ReasoningLevel};
use perstack_core::{ExpertPart, Message, ThinkingPart, ToolCallPart, ToolDefinition, Usage};
use serde::{Deserialize, Serialize};

use crate::prompt_cache::PromptCache;

/// The system prompt of a generation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SystemPrompt {
    /// The prompt text.
    pub text: String,
    /// Ask the provider to cache it (Anthropic prompt caching); others cache on their own.
    pub cache: bool,
}

/// Model settings of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationSettings {
    /// Model id, e.g. `claude-sonnet-4-5`.
    pub model: String,
    /// Upper bound on generated tokens (reasoning excluded where the API separates them).
    pub max_tokens: u32,
    /// Extended thinking / reasoning effort.
    pub reasoning_budget: ReasoningBudget,
    /// Sampling temperature; dropped where the model no longer accepts one (reasoning).
    pub temperature: Option<f32>,
    /// Retries of this request the caller already spent (the runtime's own generation
    /// retries): the provider's transparent retries share the one `maxRetries` budget and
    /// stop once it is used up.
    pub retries_used: u32,
    /// The run's [`PromptCache`]: when set, the request's `messages` are only those added
    /// since the previous request with this cache ([`PromptCache::unseen`]), and the body
    /// appends their encoding to what the cache kept (OpenAI-style bodies; the others are
    /// encoded whole from the cached conversation).
    pub prompt_cache: Option<PromptCache>,
}

impl GenerationSettings {
    /// Settings for `model` with Perstack's defaults (8192 tokens, `low` reasoning).
    pub fn new(model: impl Into<String>) -> Self {
        GenerationSettings {
            model: model.into(),
            max_tokens: 8192,
            reasoning_budget: ReasoningBudget::default(),
            temperature: None,
            retries_used: 0,
            prompt_cache: None,
        }
    }
}

/// Everything a provider needs for one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    /// The system prompt; `InstructionMessage`s in `messages` are appended to it.
    pub system: Option<SystemPrompt>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<ToolDefinition>,
    /// Model settings.
    pub settings: GenerationSettings,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StopReason {
    /// It finished its turn.
    EndTurn,
    /// It called tools and waits for their results.
    ToolUse,
    /// It hit the token limit.
    MaxTokens,
    /// It produced a stop sequence.
    StopSequence,
    /// It refused, or the output was filtered (safety, recitation).
    ContentFilter,
    /// Any other reason, as the provider spelled it.
    Other(String),
}

impl StopReason {
    /// The finish reason as Perstack (the AI SDK) names it: `stop`, `tool-calls`,
    /// `length`, `content-filter` or `other`.
    pub fn as_finish_reason(&self) -> &'static str {
        match self {
            StopReason::EndTurn | StopReason::StopSequence => "stop",
            StopReason::ToolUse => "tool-calls",
            StopReason::MaxTokens => "length",
            StopReason::ContentFilter => "content-filter",
            StopReason::Other(_) => "other",
        }
    }
}

/// One item of a generation stream, in the order the model produced it.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A piece of visible text.
    TextDelta(String),
    /// A piece of reasoning text.
    ReasoningDelta(String),
    /// A reasoning block ended: its whole text and, where the provider signs reasoning,
    /// the signature that must be sent back with it.
    ReasoningDone(ThinkingPart),
    /// A tool call with its complete, parsed arguments (never a partial call).
    ToolCall(ToolCallPart),
    /// Token usage so far (cumulative; the last one is final).
    Usage(Usage),
    /// The model stopped. Always the last event of a successful stream.
    Finish(StopReason),
    /// An attempt failed before anything was streamed and will be retried after `delay`.
    /// Informational: nothing needs to be discarded.
    Retrying {
        /// Number of the attempt about to start (the first retry is 1).
        attempt: u32,
        /// Wait before it.
        delay: Duration,
        /// Why the previous attempt failed.
        reason: String,
    },
}

/// The assembled result of a finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The expert message parts, in stream order (thinking, text, tool calls as produced).
    /// Keep this order when sending them back: signatures belong to their neighbours.
    pub parts: Vec<ExpertPart>,
    /// Final token usage.
    pub usage: Usage,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// The provider's request id, when it sent one.
    pub request_id: Option<String>,
}

impl Generation {
    /// The generation as an `ExpertMessage`.
    pub fn to_message(&self) -> Message {
        Message::expert(self.parts.clone())
    }

    /// All text parts joined (no separator).
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                ExpertPart::Text(t) => Some(t.text.as_str()),
                ExpertPart::ToolCall(_) | ExpertPart::Thinking(_) => None,
            })
            .collect()
    }

    /// The tool calls, in order.
    pub fn tool_calls(&self) -> Vec<&ToolCallPart> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                ExpertPart::ToolCall(c) => Some(c),
                ExpertPart::Text(_) | ExpertPart::Thinking(_) => None,
            })
            .collect()
    }
}

/// Token budget for a reasoning budget, as Perstack maps it (`None` = reasoning off).
pub fn reasoning_tokens(budget: ReasoningBudget) -> Option<u32> {
    match budget {
        ReasoningBudget::Tokens(0) | ReasoningBudget::Level(ReasoningLevel::None) => None,
        ReasoningBudget::Tokens(n) => Some(n),
        ReasoningBudget::Level(ReasoningLevel::Minimal) => Some(1024),
        ReasoningBudget::Level(ReasoningLevel::Low) => Some(2048),
        ReasoningBudget::Level(ReasoningLevel::Medium) => Some(5000),
        ReasoningBudget::Level(ReasoningLevel::High) => Some(10000),
    }
}

/// Reasoning effort for OpenAI reasoning models, as Perstack maps a budget.
pub fn reasoning_effort(budget: ReasoningBudget) -> Option<&'static str> {
    match budget {
        ReasoningBudget::Tokens(0) | ReasoningBudget::Level(ReasoningLevel::None) => None,
        ReasoningBudget::Tokens(n) if n <= 2048 => Some("low"),
        ReasoningBudget::Tokens(n) if n <= 5000 => Some("medium"),
        ReasoningBudget::Tokens(_) => Some("high"),
        // o-series models do not accept `minimal`.
        ReasoningBudget::Level(ReasoningLevel::Minimal | ReasoningLevel::Low) => Some("low"),
        ReasoningBudget::Level(ReasoningLevel::Medium) => Some("medium"),
        ReasoningBudget::Level(ReasoningLevel::High) => Some("high"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn budgets_map_like_perstack() {
        let lv = ReasoningBudget::Level;
        assert_eq!(reasoning_tokens(lv(ReasoningLevel::None)), None);
        assert_eq!(reasoning_tokens(lv(ReasoningLevel::Minimal)), Some(1024));
        assert_eq!(reasoning_tokens(lv(ReasoningLevel::High)), Some(10000));
        assert_eq!(reasoning_tokens(ReasoningBudget::Tokens(0)), None);
        assert_eq!(reasoning_tokens(ReasoningBudget::Tokens(3000)), Some(3000));
        assert_eq!(reasoning_effort(lv(ReasoningLevel::Minimal)), Some("low"));
        assert_eq!(reasoning_effort(ReasoningBudget::Tokens(2048)), Some("low"));
        assert_eq!(
            reasoning_effort(ReasoningBudget::Tokens(2049)),
            Some("medium")
        );
        assert_eq!(
            reasoning_effort(ReasoningBudget::Tokens(5001)),
            Some("high")
        );
        assert_eq!(reasoning_effort(lv(ReasoningLevel::None)), None);
    }

    #[test]
    fn stop_reasons_map_to_perstack_finish_reasons() {
        assert_eq!(StopReason::ToolUse.as_finish_reason(), "tool-calls");
        assert_eq!(StopReason::MaxTokens.as_finish_reason(), "length");
        assert_eq!(StopReason::Other("x".into()).as_finish_reason(), "other");
    }
}
