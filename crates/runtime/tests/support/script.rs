//! Builds Anthropic streaming answers: thinking, text and tool calls, in order.

use serde_json::{Value, json};

use super::server::Reply;

/// One model turn.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    blocks: Vec<Block>,
    input_tokens: u64,
    output_tokens: u64,
}

#[derive(Debug, Clone)]
enum Block {
    Thinking(Vec<String>),
    Text(Vec<String>),
    ToolUse(String, String, Value),
}

impl Turn {
    /// An empty turn (10 input and 5 output tokens).
    pub fn new() -> Self {
        Turn {
            blocks: Vec::new(),
            input_tokens: 10,
            output_tokens: 5,
        }
    }

    /// Reasoning streamed in the given pieces.
    pub fn thinking(mut self, pieces: &[&str]) -> Self {
        self.blocks.push(Block::Thinking(
            pieces.iter().map(|s| s.to_string()).collect(),
        ));
        self
    }

    /// Text streamed in the given pieces.
    pub fn text(mut self, pieces: &[&str]) -> Self {
        self.blocks
            .push(Block::Text(pieces.iter().map(|s| s.to_string()).collect()));
        self
    }

    /// A tool call.
    pub fn tool(mut self, id: &str, name: &str, args: Value) -> Self {
        self.blocks
            .push(Block::ToolUse(id.into(), name.into(), args));
        self
    }

    /// Token usage of the turn.
    pub fn usage(mut self, input: u64, output: u64) -> Self {
        self.input_tokens = input;
        self.output_tokens = output;
        self
    }

    /// The SSE body without its end (`message_delta`/`message_stop`).
    pub fn body_without_end(&self) -> String {
        let mut out = vec![sse(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": self.input_tokens, "output_tokens": 1}}}),
        )];
        for (i, block) in self.blocks.iter().enumerate() {
            match block {
                Block::Thinking(pieces) => {
                    out.push(sse("content_block_start", json!({"type": "content_block_start", "index": i, "content_block": {"type": "thinking", "thinking": ""}})));
                    for p in pieces {
                        out.push(sse("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "thinking_delta", "thinking": p}})));
                    }
                    out.push(sse("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "signature_delta", "signature": "sig"}})));
                }
                Block::Text(pieces) => {
                    out.push(sse("content_block_start", json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})));
                    for p in pieces {
                        out.push(sse("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": p}})));
                    }
                }
                Block::ToolUse(id, name, args) => {
                    out.push(sse("content_block_start", json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})));
                    out.push(sse("content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": args.to_string()}})));
                }
            }
            out.push(sse(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": i}),
            ));
        }
        out.concat()
    }

    /// The complete SSE body.
    pub fn body(&self) -> String {
        let stop = if self.blocks.iter().any(|b| matches!(b, Block::ToolUse(..))) {
            "tool_use"
        } else {
            "end_turn"
        };
        let mut body = self.body_without_end();
        body.push_str(&sse("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": self.output_tokens}})));
        body.push_str(&sse("message_stop", json!({"type": "message_stop"})));
        body
    }

    /// As a scripted reply.
    pub fn reply(&self) -> Reply {
        Reply::Sse(self.body())
    }
}

fn sse(event: &str, data: Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// A turn that only says `text` (one piece).
pub fn say(text: &str) -> Reply {
    Turn::new().text(&[text]).reply()
}

/// A turn that calls one tool.
pub fn call(id: &str, name: &str, args: Value) -> Reply {
    Turn::new().tool(id, name, args).reply()
}
