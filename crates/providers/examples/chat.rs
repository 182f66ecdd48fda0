//! A multi-turn, tool-using conversation with every provider, against a mock server.
//!
//! Start llmock (`llmock serve`, from PyPI) and run:
//!
//! ```text
//! cargo run -p perstack-providers --example chat -- http://127.0.0.1:8000
//! ```
//!
//! Each provider is built the way the runtime builds it — from `[provider]` settings and
//! environment variables (here an in-memory map, pointing every base URL at the mock) —
//! and holds the same two-turn conversation: the model calls `get_weather`, we run it and
//! send the result back, the model answers; then a follow-up question.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)] // an example

use std::collections::HashMap;
use std::io::Write;

use perstack_core::config::{ProviderName, ReasoningBudget, ReasoningLevel};
use perstack_core::id::new_id;
use perstack_core::{Message, TextPart, ToolDefinition, ToolResultContent, ToolResultPart};
use perstack_providers::{
    ClientOptions, GenerationRequest, GenerationSettings, HttpProvider, Provider, ProviderSpec,
    StreamEvent, SystemPrompt,
};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8000".into());
    let env: HashMap<String, String> = [
        ("ANTHROPIC_API_KEY", "mock-key".to_string()),
        ("ANTHROPIC_BASE_URL", format!("{mock}/anthropic/v1")),
        ("OPENAI_API_KEY", "mock-key".to_string()),
        ("OPENAI_BASE_URL", format!("{mock}/v1")),
        ("OLLAMA_BASE_URL", mock.clone()),
        ("DEEPSEEK_API_KEY", "mock-key".to_string()),
        ("DEEPSEEK_BASE_URL", format!("{mock}/v1")),
        ("GOOGLE_GENERATIVE_AI_API_KEY", "mock-key".to_string()),
        (
            "GOOGLE_GENERATIVE_AI_BASE_URL",
            format!("{mock}/gemini/v1beta"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();

    let providers = [
        (ProviderName::Anthropic, "claude-sonnet-4-6"),
        (ProviderName::OpenAi, "gpt-4o"),
        (ProviderName::Ollama, "gpt-oss:20b"),
        (ProviderName::Deepseek, "deepseek-chat"),
        (ProviderName::Google, "gemini-2.5-pro"),
    ];
    for (name, model) in providers {
        println!("=== {name} ({model})");
        let spec = ProviderSpec::from_config(name, None, &env)?;
        let options = ClientOptions {
            use_env_proxy: false,
            egress: None,
            ..ClientOptions::default()
        };
        let provider = HttpProvider::new(spec, options)?;
        converse(&provider, model).await?;
    }
    Ok(())
}

async fn converse(provider: &dyn Provider, model: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut messages: Vec<Message> = Vec::new();
    for question in ["What is the weather in Paris?", "And what about Oslo?"] {
        println!("user> {question}");
        messages.push(Message::user_text(question));
        for _ in 0..4 {
            let mut stream = provider.stream(request(model, messages.clone()));
            print!("model> ");
            while let Some(event) = stream.next().await {
                match event? {
                    StreamEvent::TextDelta(t) => print!("{t}"),
                    StreamEvent::ReasoningDelta(t) => print!("[thinking: {t}]"),
                    StreamEvent::ToolCall(c) => print!("[calls {}({})]", c.tool_name, c.args),
                    StreamEvent::Retrying {
                        attempt, reason, ..
                    } => {
                        print!("[retry {attempt}: {reason}]");
                    }
                    StreamEvent::ReasoningDone(_)
                    | StreamEvent::Usage(_)
                    | StreamEvent::Finish(_) => {}
                }
                std::io::stdout().flush()?;
            }
            let generation = stream.finish().await?;
            println!(
                "  ({} in / {} out tokens, {})",
                generation.usage.input_tokens,
                generation.usage.output_tokens,
                generation.stop_reason.as_finish_reason()
            );
            messages.push(generation.to_message());
            let calls = generation.tool_calls();
            if calls.is_empty() {
                break;
            }
            let results = calls
                .iter()
                .map(|c| {
                    let city = c.args.get("city").and_then(|v| v.as_str()).unwrap_or("?");
                    let answer = format!("21C and sunny in {city}");
                    println!("tool> {answer}");
                    ToolResultPart {
                        id: new_id(),
                        tool_call_id: c.tool_call_id.clone(),
                        tool_name: c.tool_name.clone(),
                        contents: vec![ToolResultContent::Text(TextPart::new(answer))],
                        is_error: None,
                    }
                })
                .collect();
            messages.push(Message::tool(results));
        }
    }
    Ok(())
}

fn request(model: &str, messages: Vec<Message>) -> GenerationRequest {
    let mut settings = GenerationSettings::new(model);
    settings.reasoning_budget = ReasoningBudget::Level(ReasoningLevel::None);
    GenerationRequest {
        system: Some(SystemPrompt {
            text: "You are a weather assistant. Use the tool.".into(),
            cache: true,
        }),
        messages,
        tools: vec![ToolDefinition {
            skill_name: "weather".into(),
            name: "get_weather".into(),
            description: Some("Get the current weather for a city.".into()),
            input_schema: json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"]
            })
            .into(),
        }],
        settings,
    }
}
