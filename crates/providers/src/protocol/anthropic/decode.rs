//! Anthropic Messages stream decoding.

use std::collections::HashMap;

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
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: MessageStart,
    },
    ContentBlockStart {
        index: u64,
        content_block: BlockStart,
    },
    ContentBlockDelta {
        index: u64,
        delta: Delta,
    },
    ContentBlockStop {
        index: u64,
    },
    MessageDelta {
        #[serde(default)]
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error {
        #[serde(flatten)]
        body: Value,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
struct MessageStart {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockStart {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    RedactedThinking {
        #[serde(default)]
        data: String,
    },
    ToolUse {
        id: String,
        name: String,
        // Some compatible servers leave `input` out.
        #[serde(default)]
        input: Option<Value>,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::enum_variant_names)] // the wire names
enum Delta {
    TextDelta {
        text: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Deserialize)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

/// A content block being streamed.
#[derive(Debug)]
enum Block {
    Text,
    Thinking {
        signature: Option<String>,
    },
    ToolUse {
        id: String,
        name: String,
        json: String,
        initial: Option<Value>,
    },
    Other,
}

/// Decoder state for one Anthropic stream.
#[derive(Debug)]
pub(crate) struct AnthropicDecoder {
    provider: ProviderName,
    blocks: HashMap<u64, Block>,
    usage: WireUsage,
    stop_reason: Option<String>,
}

impl AnthropicDecoder {
    /// A decoder for a new response.
    pub(crate) fn new(provider: ProviderName) -> Self {
        AnthropicDecoder {
            provider,
            blocks: HashMap::new(),
            usage: WireUsage::default(),
            stop_reason: None,
        }
    }

    fn merge_usage(&mut self, u: WireUsage, out: &mut Assembler) {
        // message_delta figures are cumulative; keep what a later event does not repeat.
        let keep = |new: Option<u64>, old: Option<u64>| new.or(old);
        self.usage = WireUsage {
            input_tokens: keep(u.input_tokens, self.usage.input_tokens),
            output_tokens: keep(u.output_tokens, self.usage.output_tokens),
            cache_creation_input_tokens: keep(
                u.cache_creation_input_tokens,
                self.usage.cache_creation_input_tokens,
            ),
            cache_read_input_tokens: keep(
                u.cache_read_input_tokens,
                self.usage.cache_read_input_tokens,
            ),
        };
        let w = self.usage;
        let cached = w.cache_read_input_tokens.unwrap_or(0);
        let input =
            w.input_tokens.unwrap_or(0) + w.cache_creation_input_tokens.unwrap_or(0) + cached;
        let output = w.output_tokens.unwrap_or(0);
        out.usage(Usage {
            input_tokens: input,
            output_tokens: output,
            reasoning_tokens: out.current_usage().reasoning_tokens,
            total_tokens: input + output,
            cached_input_tokens: cached,
            cache_write_input_tokens: w.cache_creation_input_tokens.unwrap_or(0),
        });
    }

    fn block_stop(&mut self, index: u64, out: &mut Assembler) -> Result<(), ProviderError> {
        match self.blocks.remove(&index) {
            Some(Block::Text) | Some(Block::Other) | None => out.end_block(),
            Some(Block::Thinking { signature }) => match signature {
                Some(sig) => out.reasoning_signature(&sig),
                None => out.end_block(),
            },
            Some(Block::ToolUse {
                id,
                name,
                json,
                initial,
            }) => {
                let args = if json.trim().is_empty() {
                    initial.unwrap_or(Value::Object(Default::default()))
                } else {
                    tool_args(self.provider, &name, &id, &json)?
                };
                let args =
                    crate::protocol::common::tool_args_value(self.provider, &name, &id, args)?;
                out.tool_call(id, name, args);
            }
        }
        Ok(())
    }
}

impl Decoder for AnthropicDecoder {
    fn on_event(&mut self, event: &SseEvent, out: &mut Assembler) -> Result<(), ProviderError> {
        let parsed: Event = parse_event(self.provider, &event.data)?;
        match parsed {
            Event::MessageStart { message } => {
                if let Some(u) = message.usage {
                    self.merge_usage(u, out);
                }
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => {
                let block = match content_block {
                    BlockStart::Text { text } => {
                        out.text(&text);
                        Block::Text
                    }
                    BlockStart::Thinking { thinking } => {
                        out.reasoning(&thinking);
                        Block::Thinking { signature: None }
                    }
                    BlockStart::RedactedThinking { data } => {
                        out.redacted_reasoning(&data);
                        Block::Other
                    }
                    BlockStart::ToolUse { id, name, input } => Block::ToolUse {
                        id,
                        name,
                        json: String::new(),
                        initial: input,
                    },
                    BlockStart::Other => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            Event::ContentBlockDelta { index, delta } => match (self.blocks.get_mut(&index), delta)
            {
                (Some(Block::Text), Delta::TextDelta { text }) => out.text(&text),
                (Some(Block::Thinking { .. }), Delta::ThinkingDelta { thinking }) => {
                    out.reasoning(&thinking);
                }
                (Some(Block::Thinking { signature }), Delta::SignatureDelta { signature: s }) => {
                    signature.get_or_insert_with(String::new).push_str(&s);
                }
                (Some(Block::ToolUse { json, .. }), Delta::InputJsonDelta { partial_json }) => {
                    json.push_str(&partial_json);
                }
                (None, _) => {
                    return Err(crate::protocol::common::malformed(
                        self.provider,
                        format!("delta for content block {index} that was never started"),
                    ));
                }
                // Citations and other deltas we do not use.
                (Some(_), _) => {}
            },
            Event::ContentBlockStop { index } => self.block_stop(index, out)?,
            Event::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop_reason = Some(reason);
                }
                if let Some(u) = usage {
                    self.merge_usage(u, out);
                }
            }
            Event::MessageStop => {
                let reason = match self.stop_reason.as_deref() {
                    Some("end_turn") | None => StopReason::EndTurn,
                    Some("tool_use") => StopReason::ToolUse,
                    Some("max_tokens" | "model_context_window_exceeded") => StopReason::MaxTokens,
                    Some("stop_sequence") => StopReason::StopSequence,
                    Some("refusal") => StopReason::ContentFilter,
                    Some(other) => StopReason::Other(other.to_string()),
                };
                out.finish(reason);
            }
            Event::Ping | Event::Unknown => {}
            Event::Error { body } => return Err(stream_error_event(self.provider, &body)),
        }
        Ok(())
    }

    fn on_end(&mut self, out: &mut Assembler) -> Result<(), ProviderError> {
        if out.is_finished() {
            Ok(())
        } else {
            Err(truncated(
                self.provider,
                "the stream ended before message_stop",
            ))
        }
    }
}
