//! Throughput of SSE parsing and of full stream decoding, in MB/s.
//!
//! ```text
//! cargo run --release -p perstack-providers --example sse_bench
//! ```
//!
//! Builds realistic synthetic streams (Anthropic and OpenAI text deltas plus a tool call
//! streamed in small argument fragments), then measures the SSE parser alone and the whole
//! decode path (SSE + JSON + assembly into a generation), feeding the body in network-sized
//! chunks and in tiny chunks.

#![allow(clippy::print_stdout, clippy::unwrap_used)] // a benchmark

use std::time::Instant;

use perstack_core::config::ProviderName;
use perstack_providers::replay::replay;
use perstack_providers::sse::SseParser;
use perstack_providers::{AnthropicOptions, OpenAiFlavor, OpenAiOptions, Protocol};
use serde_json::json;

const TARGET_BYTES: usize = 32 * 1024 * 1024;

fn anthropic_stream() -> Vec<u8> {
    let mut s = String::new();
    s.push_str("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":100,\"output_tokens\":1}}}\n\n");
    s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    let mut i = 0;
    while s.len() < TARGET_BYTES {
        let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": format!("token {i} of a long answer, with \"quotes\" and é ")}});
        s.push_str(&format!("event: content_block_delta\ndata: {delta}\n\n"));
        if i % 64 == 0 {
            s.push_str("event: ping\ndata: {\"type\": \"ping\"}\n\n");
        }
        i += 1;
    }
    s.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"writeTextFile\",\"input\":{}}}\n\n");
    let args = json!({"path": "out.txt", "text": "x".repeat(64 * 1024)}).to_string();
    for piece in args.as_bytes().chunks(12) {
        let piece = std::str::from_utf8(piece).unwrap();
        let delta = json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": piece}});
        s.push_str(&format!("event: content_block_delta\ndata: {delta}\n\n"));
    }
    s.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    );
    s.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":5000}}\n\n");
    s.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    s.into_bytes()
}

fn openai_stream() -> Vec<u8> {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < TARGET_BYTES {
        let chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": format!("token {i} of a long answer ")}, "logprobs": null, "finish_reason": null}], "usage": null});
        s.push_str(&format!("data: {chunk}\r\n\r\n"));
        i += 1;
    }
    let chunk = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    s.push_str(&format!("data: {chunk}\r\n\r\ndata: [DONE]\r\n\r\n"));
    s.into_bytes()
}

fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs
}

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let streams = [
        (
            "anthropic",
            ProviderName::Anthropic,
            Protocol::Anthropic(AnthropicOptions {
                version: "2023-06-01".into(),
            }),
            anthropic_stream(),
        ),
        (
            "openai",
            ProviderName::OpenAi,
            Protocol::OpenAi(OpenAiOptions {
                flavor: OpenAiFlavor::OpenAi,
                organization: None,
                project: None,
            }),
            openai_stream(),
        ),
    ];
    println!("stream     chunk   sse-parse MB/s   full-decode MB/s   events");
    for (label, name, protocol, body) in &streams {
        for chunk in [16 * 1024, 64] {
            let mut events = 0;
            let parse = best_of(3, || {
                let mut p = SseParser::new();
                let mut out = Vec::with_capacity(1024);
                events = 0;
                for c in body.chunks(chunk) {
                    p.feed(c, &mut out).unwrap();
                    events += out.len();
                    out.clear();
                }
                p.finish(&mut out).unwrap();
                events += out.len();
            });
            let decode = best_of(3, || {
                let r = replay(*name, protocol, body.chunks(chunk));
                assert!(r.result.is_ok(), "{:?}", r.result);
            });
            println!(
                "{label:<10} {chunk:>5}   {:>14.0}   {:>16.0}   {events}",
                mb_per_s(body.len(), parse),
                mb_per_s(body.len(), decode),
            );
        }
    }
}
