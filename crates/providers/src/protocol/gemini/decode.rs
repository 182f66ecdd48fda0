//! Gemini `streamGenerateContent?alt=sse` decoding: each event is a whole
//! `GenerateContentResponse`; function calls arrive complete, with object arguments.

use perstack_core::Usage;
use perstack_core::config::ProviderName;
use serde::Deserialize;
use serde_json::Value;

use crate::assemble::Assembler;
use crate::error::ProviderError;
use crate::protocol::Decoder;
use crate::protocol::common::{parse_event, stream_error_event, tool_args_value, truncated};
use crate::sse::SseEvent;
use crate::types::StopReason;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chunk {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    usage_metadata: Option<WireUsage>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    index: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default)]
    thought_signature: Option<String>,
    #[serde(default)]
    function_call: Option<FunctionCall>,
}

#[derive(Debug, Deserialize)]
struct FunctionCall {
    name: String,
    #[serde(default)]
    args: Value,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: Option<u64>,
    #[serde(default)]
    candidates_token_count: Option<u64>,
    #[serde(default)]
    thoughts_token_count: Option<u64>,
    #[serde(default)]
    cached_content_token_count: Option<u64>,
    #[serde(default)]
    total_token_count: Option<u64>,
}

/// Decoder state for one Gemini stream.
#[derive(Debug)]
pub(crate) struct GeminiDecoder {
    provider: ProviderName,
    finish_reason: Option<String>,
}

impl GeminiDecoder {
    /// A decoder for a new response.
    pub(crate) fn new(provider: ProviderName) -> Self {
        GeminiDecoder {
            provider,
            finish_reason: None,
        }
    }

    fn part(&self, part: Part, out: &mut Assembler) -> Result<(), ProviderError> {
        if part.thought == Some(true) {
            if let Some(t) = &part.text {
                out.reasoning(t);
            }
            if let Some(sig) = &part.thought_signature {
                out.reasoning_signature(sig);
            }
            return Ok(());
        }
        // A signature on an answer part belongs to that part: record it just before.
        if let Some(sig) = &part.thought_signature {
            out.reasoning_signature(sig);
        }
        if let Some(t) = &part.text {
            out.text(t);
        }
        if let Some(call) = part.function_call {
            let id = call
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| format!("call_{}", perstack_core::id::new_id()));
            let args = tool_args_value(self.provider, &call.name, &id, call.args)?;
            out.tool_call(id, call.name, args);
        }
        Ok(())
    }

    fn usage(u: WireUsage, out: &mut Assembler) {
        let input = u.prompt_token_count.unwrap_or(0);
        let thoughts = u.thoughts_token_count.unwrap_or(0);
        // Gemini counts thoughts apart from candidates; we count them as output.
        let output = u.candidates_token_count.unwrap_or(0) + thoughts;
        out.usage(Usage {
            input_tokens: input,
            output_tokens: output,
            reasoning_tokens: thoughts,
            total_tokens: u.total_token_count.unwrap_or(input + output),
            cached_input_tokens: u.cached_content_token_count.unwrap_or(0),
            cache_write_input_tokens: 0,
        });
    }
}

impl Decoder for GeminiDecoder {
    fn on_event(&mut self, event: &SseEvent, out: &mut Assembler) -> Result<(), ProviderError> {
        let data = event.data.trim();
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
        for candidate in chunk.candidates {
            if candidate.index.unwrap_or(0) != 0 {
                continue;
            }
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                self.part(part, out)?;
            }
            if let Some(reason) = candidate.finish_reason.filter(|r| !r.is_empty()) {
                if reason == "MALFORMED_FUNCTION_CALL" {
                    return Err(ProviderError::MalformedToolCall {
                        provider: self.provider,
                        tool_name: String::new(),
                        tool_call_id: String::new(),
                        message: "the model produced a malformed function call".into(),
                        request_id: None,
                    });
                }
                self.finish_reason = Some(reason);
            }
        }
        if let Some(reason) = chunk.prompt_feedback.and_then(|f| f.block_reason) {
            // The prompt itself was blocked: no candidates will come.
            self.finish_reason
                .get_or_insert(format!("BLOCKED:{reason}"));
        }
        if let Some(u) = chunk.usage_metadata {
            Self::usage(u, out);
        }
        Ok(())
    }

    fn on_end(&mut self, out: &mut Assembler) -> Result<(), ProviderError> {
        let Some(reason) = self.finish_reason.as_deref() else {
            return Err(truncated(
                self.provider,
                "the stream ended without a finishReason",
            ));
        };
        let stop = match reason {
            "STOP" if out.has_tool_calls() => StopReason::ToolUse,
            "STOP" => StopReason::EndTurn,
            "MAX_TOKENS" => StopReason::MaxTokens,
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII"
            | "IMAGE_SAFETY" => StopReason::ContentFilter,
            r if r.starts_with("BLOCKED:") => StopReason::ContentFilter,
            other => StopReason::Other(other.to_string()),
        };
        out.finish(stop);
        Ok(())
    }
}
