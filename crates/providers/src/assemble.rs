//! Turns provider-neutral decoding steps into stream events and the final message parts.
//!
//! Decoders call one method per thing the model produced; the assembler keeps the
//! parts in stream order, queues the matching [`StreamEvent`]s, and builds the
//! [`Generation`] at the end.

use std::collections::VecDeque;

use perstack_core::id::new_id;
use perstack_core::{ExpertPart, TextPart, ThinkingPart, ToolCallPart, Usage};
use serde_json::Value;

use crate::types::{Generation, StopReason, StreamEvent};

/// Which part is still receiving deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Nothing,
    Text,
    Thinking,
}

/// Accumulates one generation.
#[derive(Debug)]
pub(crate) struct Assembler {
    parts: Vec<ExpertPart>,
    open: Open,
    usage: Usage,
    stop: Option<StopReason>,
    events: VecDeque<StreamEvent>,
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler {
            parts: Vec::new(),
            open: Open::Nothing,
            usage: Usage::default(),
            stop: None,
            events: VecDeque::new(),
        }
    }
}

impl Assembler {
    /// Appends visible text.
    pub(crate) fn text(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        if self.open != Open::Text {
            self.end_block();
            self.parts.push(ExpertPart::Text(TextPart::new("")));
            self.open = Open::Text;
        }
        if let Some(ExpertPart::Text(t)) = self.parts.last_mut() {
            t.text.push_str(delta);
        }
        self.events
            .push_back(StreamEvent::TextDelta(delta.to_string()));
    }

    /// Appends reasoning text.
    pub(crate) fn reasoning(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        self.open_thinking();
        if let Some(ExpertPart::Thinking(t)) = self.parts.last_mut() {
            t.thinking.push_str(delta);
        }
        self.events
            .push_back(StreamEvent::ReasoningDelta(delta.to_string()));
    }

    /// Attaches a signature to the open reasoning block and closes it; with no open
    /// block, records a signature-only block (it belongs to the part that follows).
    pub(crate) fn reasoning_signature(&mut self, signature: &str) {
        self.open_thinking();
        if let Some(ExpertPart::Thinking(t)) = self.parts.last_mut() {
            t.signature = Some(signature.to_string());
        }
        self.end_block();
    }

    /// Records a redacted reasoning block: empty text, the opaque data as signature.
    pub(crate) fn redacted_reasoning(&mut self, data: &str) {
        self.end_block();
        self.parts.push(ExpertPart::Thinking(ThinkingPart {
            id: new_id(),
            thinking: String::new(),
            signature: Some(data.to_string()),
        }));
    }

    /// Closes the open text or reasoning block, so the next delta starts a new part.
    pub(crate) fn end_block(&mut self) {
        if self.open == Open::Thinking
            && let Some(ExpertPart::Thinking(t)) = self.parts.last()
            && !t.thinking.is_empty()
        {
            self.events.push_back(StreamEvent::ReasoningDone(t.clone()));
        }
        self.open = Open::Nothing;
    }

    /// Records a complete tool call.
    pub(crate) fn tool_call(&mut self, tool_call_id: String, tool_name: String, args: Value) {
        self.end_block();
        let part = ToolCallPart {
            id: new_id(),
            tool_call_id,
            tool_name,
            args,
        };
        self.parts.push(ExpertPart::ToolCall(part.clone()));
        self.events.push_back(StreamEvent::ToolCall(part));
    }

    /// Replaces the usage so far (providers report cumulative figures).
    pub(crate) fn usage(&mut self, usage: Usage) {
        if usage != self.usage {
            self.usage = usage;
            self.events.push_back(StreamEvent::Usage(usage));
        }
    }

    /// The usage so far.
    pub(crate) fn current_usage(&self) -> Usage {
        self.usage
    }

    /// Ends the generation.
    pub(crate) fn finish(&mut self, reason: StopReason) {
        if self.stop.is_some() {
            return;
        }
        self.end_block();
        self.stop = Some(reason.clone());
        self.events.push_back(StreamEvent::Finish(reason));
    }

    /// Whether `finish` was called.
    pub(crate) fn is_finished(&self) -> bool {
        self.stop.is_some()
    }

    /// Whether any tool call was recorded.
    pub(crate) fn has_tool_calls(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, ExpertPart::ToolCall(_)))
    }

    /// The next queued event.
    pub(crate) fn pop_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }

    /// The finished generation, or `None` if `finish` was never called.
    pub(crate) fn into_generation(self, request_id: Option<String>) -> Option<Generation> {
        let stop_reason = self.stop?;
        let parts = self
            .parts
            .into_iter()
            .filter(|p| match p {
                ExpertPart::Text(t) => !t.text.is_empty(),
                ExpertPart::Thinking(t) => !t.thinking.is_empty() || t.signature.is_some(),
                ExpertPart::ToolCall(_) => true,
            })
            .collect();
        Some(Generation {
            parts,
            usage: self.usage,
            stop_reason,
            request_id,
        })
    }

    fn open_thinking(&mut self) {
        if self.open != Open::Thinking {
            self.end_block();
            self.parts.push(ExpertPart::Thinking(ThinkingPart {
                id: new_id(),
                thinking: String::new(),
                signature: None,
            }));
            self.open = Open::Thinking;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn drain(a: &mut Assembler) -> Vec<StreamEvent> {
        std::iter::from_fn(|| a.pop_event()).collect()
    }

    #[test]
    fn keeps_stream_order_and_closes_reasoning_with_its_signature() {
        let mut a = Assembler::default();
        a.reasoning("think");
        a.reasoning("ing");
        a.reasoning_signature("sig");
        a.text("Hel");
        a.text("lo");
        a.tool_call("c1".into(), "t".into(), json!({"x": 1}));
        a.finish(StopReason::ToolUse);
        let events = drain(&mut a);
        assert_eq!(events.len(), 7);
        assert!(matches!(&events[2], StreamEvent::ReasoningDone(t)
            if t.thinking == "thinking" && t.signature.as_deref() == Some("sig")));
        let g = a.into_generation(None).unwrap();
        assert_eq!(g.parts.len(), 3);
        assert_eq!(g.text(), "Hello");
        assert_eq!(g.tool_calls()[0].args, json!({"x": 1}));
    }

    #[test]
    fn signature_without_open_reasoning_makes_a_signature_only_part() {
        let mut a = Assembler::default();
        a.text("a");
        a.reasoning_signature("s");
        a.text("b");
        a.finish(StopReason::EndTurn);
        let g = a.into_generation(None).unwrap();
        let kinds: Vec<&str> = g
            .parts
            .iter()
            .map(|p| match p {
                ExpertPart::Text(_) => "text",
                ExpertPart::Thinking(_) => "thinking",
                ExpertPart::ToolCall(_) => "call",
            })
            .collect();
        assert_eq!(kinds, vec!["text", "thinking", "text"]);
    }

    #[test]
    fn unfinished_generation_has_no_result() {
        let mut a = Assembler::default();
        a.text("partial");
        assert!(a.into_generation(None).is_none());
    }
}
