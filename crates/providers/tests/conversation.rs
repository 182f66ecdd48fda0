//! A multi-turn, tool-using conversation with every provider: against the scripted server
//! (always) and against the llmock peer (with `cargo xtask test`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use perstack_core::Message;
use perstack_providers::Provider;
use perstack_testkit::Llmock;
use pretty_assertions::assert_eq;
use serde_json::Value;
use support::chat::{hold_conversation, outline, text_answer, tool_call_answer};
use support::{Kind, Reply, ScriptedServer, provider, test_options};

const TURNS: [&str; 2] = ["What is the weather in Paris?", "And in Oslo?"];

fn expected_outline() -> Vec<&'static str> {
    vec![
        "user",
        "expert:call",
        "tool",
        "expert:text",
        "user",
        "expert:call",
        "tool",
        "expert:text",
    ]
}

/// The tool result each follow-up request carries back, in the provider's own shape.
fn returned_result(kind: Kind, body: &Value) -> (String, String) {
    match kind {
        Kind::Anthropic => {
            let last = body["messages"].as_array().unwrap().last().unwrap();
            let block = &last["content"][0];
            assert_eq!(block["type"], "tool_result");
            (
                block["tool_use_id"].as_str().unwrap().to_string(),
                block["content"][0]["text"].as_str().unwrap().to_string(),
            )
        }
        Kind::OpenAi | Kind::Compatible => {
            let last = body["messages"].as_array().unwrap().last().unwrap();
            assert_eq!(last["role"], "tool");
            (
                last["tool_call_id"].as_str().unwrap().to_string(),
                last["content"].as_str().unwrap().to_string(),
            )
        }
        Kind::Gemini => {
            let last = body["contents"].as_array().unwrap().last().unwrap();
            let response = &last["parts"][0]["functionResponse"];
            (
                response["name"].as_str().unwrap().to_string(),
                response["response"]["content"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        }
    }
}

#[tokio::test]
async fn multi_turn_tool_conversation_with_every_provider_scripted() {
    for kind in Kind::ALL {
        let server = ScriptedServer::start(vec![
            Reply::sse(&tool_call_answer(kind, "call_1", "Paris")),
            Reply::sse(&text_answer(kind, "It is 21C and sunny in Paris.")),
            Reply::sse(&tool_call_answer(kind, "call_2", "Oslo")),
            Reply::sse(&text_answer(kind, "Oslo is sunny too.")),
        ])
        .await;
        let base = match kind {
            Kind::Gemini => format!("{}/v1beta", server.url),
            Kind::Anthropic | Kind::OpenAi | Kind::Compatible => format!("{}/v1", server.url),
        };
        let p = provider(kind, &base, test_options());
        let history = hold_conversation(&p, kind, &TURNS).await.unwrap();
        assert_eq!(outline(&history), expected_outline(), "{kind:?}");
        assert_eq!(history[3].text(), "It is 21C and sunny in Paris.");
        assert_eq!(history[7].text(), "Oslo is sunny too.");

        let requests = server.requests();
        assert_eq!(requests.len(), 4);
        let (id, text) = returned_result(kind, &requests[1].body);
        let want_id = if kind == Kind::Gemini {
            "get_weather"
        } else {
            "call_1"
        };
        assert_eq!(
            (id.as_str(), text.as_str()),
            (want_id, "21C and sunny in Paris"),
            "{kind:?}"
        );
        let (_, text) = returned_result(kind, &requests[3].body);
        assert_eq!(text, "21C and sunny in Oslo");
        // The last request carries the whole history: seven turns (plus OpenAI's system
        // message).
        let turns = match kind {
            Kind::Anthropic => requests[3].body["messages"].as_array().unwrap().len(),
            Kind::OpenAi | Kind::Compatible => {
                requests[3].body["messages"].as_array().unwrap().len() - 1
            }
            Kind::Gemini => requests[3].body["contents"].as_array().unwrap().len(),
        };
        let want = 7;
        assert_eq!(turns, want, "{kind:?}");
    }
}

/// llmock's base URL for each protocol.
pub fn llmock_base(kind: Kind, mock: &Llmock) -> String {
    match kind {
        Kind::Anthropic => format!("{}/anthropic/v1", mock.url),
        Kind::OpenAi | Kind::Compatible => format!("{}/v1", mock.url),
        Kind::Gemini => format!("{}/gemini/v1beta", mock.url),
    }
}

async fn llmock_conversation(kind: Kind) {
    let mock = Llmock::start();
    let p = provider(kind, &llmock_base(kind, &mock), test_options());
    let history = hold_conversation(&p as &dyn Provider, kind, &TURNS)
        .await
        .unwrap();
    assert_eq!(
        outline(&history),
        expected_outline(),
        "{kind:?}: {history:#?}"
    );
    // llmock fills the arguments from the tool's JSON Schema.
    let Message::ExpertMessage { contents, .. } = &history[1] else {
        panic!()
    };
    let call = contents
        .iter()
        .find_map(|p| match p {
            perstack_core::ExpertPart::ToolCall(c) => Some(c),
            perstack_core::ExpertPart::Text(_) | perstack_core::ExpertPart::Thinking(_) => None,
        })
        .unwrap();
    assert_eq!(call.tool_name, "get_weather");
    assert!(call.args["city"].is_string(), "{}", call.args);
    assert!(!history[3].text().is_empty());
    let verdict = mock.verdict();
    assert_eq!(verdict["passed"], true, "{verdict:#}");
}

#[tokio::test]
#[ignore = "peer: llmock; run with cargo xtask test"]
async fn llmock_multi_turn_tool_conversation_anthropic() {
    llmock_conversation(Kind::Anthropic).await;
}

#[tokio::test]
#[ignore = "peer: llmock; run with cargo xtask test"]
async fn llmock_multi_turn_tool_conversation_openai() {
    llmock_conversation(Kind::OpenAi).await;
}

#[tokio::test]
#[ignore = "peer: llmock; run with cargo xtask test"]
async fn llmock_multi_turn_tool_conversation_openai_compatible() {
    llmock_conversation(Kind::Compatible).await;
}

#[tokio::test]
#[ignore = "peer: llmock; run with cargo xtask test"]
async fn llmock_multi_turn_tool_conversation_gemini() {
    llmock_conversation(Kind::Gemini).await;
}
