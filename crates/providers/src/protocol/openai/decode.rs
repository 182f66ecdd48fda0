//! OpenAI Chat Completions stream decoding, tolerant of compatible servers' variations.

use perstack_core::Usage;
use perstack_core::config::ProviderName;
use serde::Deserialize;
use serde_json::Value;

use crate::assemble::Assembler;
use crate::error::ProviderError;
use crate::protocol::Decoder;
use crate::protocol::common::{parse_event, stream_error_event, tool_args, truncated};
use crate::sse::SseEvent;
use crate::types::StopReason;

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    // Absent, null or an object depending on the server.
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    // DeepSeek, vLLM and llama.cpp call it `reasoning_content`; Ollama `reasoning`.
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    // A string fragment normally; some servers send the whole object.
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    // DeepSeek's name for cached prompt tokens.
    #[serde(default)]
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

/// A tool call whose pieces are still arriving.
#[derive(Debug)]
struct PendingCall {
    index: Option<u64>,
    id: String,
    name: String,
    arguments: String,
}

/// Decoder state for one chat completion stream.
#[derive(Debug)]
pub(crate) struct OpenAiDecoder {
    provider: ProviderName,
    calls: Vec<PendingCall>,
    finish_reason: Option<String>,
    done: bool,
}

impl OpenAiDecoder {
    /// A decoder for a new response.
    pub(crate) fn new(provider: ProviderName) -> Self {
        OpenAiDecoder {
            provider,
            calls: Vec::new(),
            finish_reason: None,
            done: false,
        }
    }

    /// The slot a tool call delta belongs to: by index; by id when the server sends no
    /// index; a new one when a known index comes with a different id (servers that
    /// number every call 0).
    fn slot(&mut self, d: &ToolCallDelta) -> usize {
        let new_id = d.id.as_deref().filter(|id| !id.is_empty());
        let found = match d.index {
            Some(i) => self.calls.iter().rposition(|c| {
                c.index == Some(i) && new_id.is_none_or(|id| c.id.is_empty() || c.id == id)
            }),
            None => match new_id {
                Some(id) => self.calls.iter().position(|c| c.id == id),
                None => self.calls.len().checked_sub(1),
            },
        };
        found.unwrap_or_else(|| {
            self.calls.push(PendingCall {
                index: d.index,
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
            });
            self.calls.len() - 1
        })
    }

    fn tool_call_delta(&mut self, d: ToolCallDelta) {
        let i = self.slot(&d);
        let Some(call) = self.calls.get_mut(i) else {
            return;
        };
        if let Some(id) = d.id.filter(|id| !id.is_empty())
            && call.id.is_empty()
        {
            call.id = id;
        }
        if let Some(f) = d.function {
            if let Some(name) = f.name.filter(|n| !n.is_empty())
                && call.name.is_empty()
            {
                call.name = name;
            }
            match f.arguments {
                Some(Value::String(piece)) => call.arguments.push_str(&piece),
                Some(Value::Null) | None => {}
                Some(whole) => call.arguments = whole.to_string(),
            }
        }
    }

    /// The finish reason arrived: every tool call is complete now.
    fn flush_calls(&mut self, out: &mut Assembler) -> Result<(), ProviderError> {
        for call in std::mem::take(&mut self.calls) {
            if call.name.is_empty() {
                return Err(ProviderError::MalformedToolCall {
                    provider: self.provider,
                    tool_name: String::new(),
                    tool_call_id: call.id,
                    message: "tool call without a function name".into(),
                    request_id: None,
                });
            }
            let id = if call.id.is_empty() {
                format!("call_{}", perstack_core::id::new_id())
            } else {
                call.id
            };
            let args = tool_args(self.provider, &call.name, &id, &call.arguments)?;
            out.tool_call(id, call.name, args);
        }
        Ok(())
    }

    fn usage(&self, u: WireUsage, out: &mut Assembler) {
        let input = u.prompt_tokens.unwrap_or(0);
        let output = u.completion_tokens.unwrap_or(0);
        let cached = u
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .or(u.prompt_cache_hit_tokens)
            .unwrap_or(0);
        out.usage(Usage {
            input_tokens: input,
            output_tokens: output,
            reasoning_tokens: u
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            total_tokens: u.total_tokens.unwrap_or(input + output),
            cached_input_tokens: cached,
            cache_write_input_tokens: 0,
        });
    }

    fn finish(&mut self, out: &mut Assembler) {
        let reason = match self.finish_reason.as_deref() {
            Some("stop") if out.has_tool_calls() => StopReason::ToolUse,
            Some("stop") | None => StopReason::EndTurn,
            Some("tool_calls" | "function_call") => StopReason::ToolUse,
            Some("length") => StopReason::MaxTokens,
            Some("content_filter") => StopReason::ContentFilter,
            Some(other) => StopReason::Other(other.to_string()),
        };
        out.finish(reason);
    }
}

impl Decoder for OpenAiDecoder {
    fn on_event(&mut self, event: &SseEvent, out: &mut Assembler) -> Result<(), ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.done = true;
            if self.finish_reason.is_none() {
                return Err(truncated(self.provider, "[DONE] without a finish_reason"));
            }
            self.finish(out);
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk: Chunk = parse_event(self.provider, data)?;
        if let Some(error) = chunk.error {
            return Err(stream_error_event(
                self.provider,
                &serde_json::json!({ "error": error }),
            ));
        }
        for choice in chunk.choices.unwrap_or_default() {
            // We ask for one choice; ignore any other.
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.delta {
                if let Some(r) = delta
                    .reasoning_content
                    .as_deref()
                    .or(delta.reasoning.as_deref())
                {
                    out.reasoning(r);
                }
                if let Some(text) = delta.content.as_deref() {
                    out.text(text);
                }
                if let Some(text) = delta.refusal.as_deref() {
                    out.text(text);
                }
                for d in delta.tool_calls.unwrap_or_default() {
                    self.tool_call_delta(d);
                }
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finish_reason = Some(reason);
                self.flush_calls(out)?;
            }
        }
        if let Some(u) = chunk.usage {
            self.usage(u, out);
        }
        Ok(())
    }

    fn on_end(&mut self, out: &mut Assembler) -> Result<(), ProviderError> {
        // Some servers end without [DONE]; a finish_reason is what makes a stream whole.
        if self.finish_reason.is_none() {
            return Err(truncated(
                self.provider,
                "the stream ended without a finish_reason",
            ));
        }
        if !self.done {
            self.finish(out);
        }
        Ok(())
    }
}
