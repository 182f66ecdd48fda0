//! `perstack run` end to end against the llmock peer (PyPI), one test per provider protocol:
//! the real binary, provider, base skill, runtime and storage hold a multi-turn, tool-using
//! conversation; plus llmock's faults (529, a stream cut mid-content) through the CLI.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use perstack_testkit::{Api, Llmock};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::{Endpoint, Setup, assert_completed, job_id, run_event_types};

const GREETING: &str = "# Hello\n\nWritten through llmock.\n";

/// The model writes a file, reads it back, then answers in text (which completes the run).
fn conversation() -> Value {
    json!([
        {"type": "reply", "text": "I'll write the file.", "tool_calls": [
            {"name": "writeTextFile", "arguments": {"path": "notes/hello.md", "text": GREETING}}
        ]},
        {"type": "reply", "tool_calls": [
            {"name": "readTextFile", "arguments": {"path": "notes/hello.md"}}
        ]},
        {"type": "reply", "text": "I wrote notes/hello.md and read it back."},
    ])
}

fn tool_step() -> Vec<&'static str> {
    vec![
        "startGeneration",
        "callTools",
        "resolveToolResults",
        "finishToolCall",
        "continueToNextStep",
    ]
}

fn expected_run_events() -> Vec<String> {
    let mut want = vec!["startRun"];
    want.extend(tool_step());
    want.extend(tool_step());
    want.extend(["startGeneration", "completeRun"]);
    want.into_iter().map(str::to_string).collect()
}

fn assert_clean_verdict(mock: &Llmock, what: &str) {
    let errors = mock.error_findings();
    assert!(
        errors.is_empty(),
        "{what}: llmock found client bugs: {errors:#?}"
    );
}

fn conversation_through_the_cli(endpoint: impl Fn(&Llmock) -> Endpoint) {
    let mock = Llmock::start();
    mock.scenario(conversation());
    let setup = Setup::new();
    let endpoint = endpoint(&mock);
    let done = setup.run(&endpoint, &[], "Write a greeting to notes/hello.md");
    assert_completed(&done);
    assert_eq!(
        run_event_types(&done.events),
        expected_run_events(),
        "{}",
        endpoint.provider
    );
    let types = done.types();
    assert_eq!(types.first().map(String::as_str), Some("initializeRuntime"));
    assert!(types.contains(&"skillConnected".to_string()), "{types:?}");
    assert_eq!(
        std::fs::read_to_string(setup.ws().join("notes/hello.md")).unwrap(),
        GREETING
    );
    // The model got the file back as the tool result of its second call.
    let resolved: Vec<&Value> = done
        .events
        .iter()
        .filter(|e| e["type"] == "resolveToolResults")
        .collect();
    assert!(
        resolved[1].to_string().contains("Written through llmock."),
        "{}",
        resolved[1]
    );
    let completed = done.events.iter().find(|e| e["type"] == "completeRun");
    assert_eq!(
        completed.unwrap()["text"],
        "I wrote notes/hello.md and read it back."
    );
    assert_eq!(mock.requests()["count"], 3, "{}", endpoint.provider);
    assert_clean_verdict(&mock, &endpoint.provider);
    let job = job_id(&done.events);
    setup.assert_verified(&job);
    assert_eq!(setup.job(&job)["status"], "completed");
}

#[test]
#[ignore = "peer: llmock; run with cargo xtask test"]
fn llmock_cli_conversation_anthropic() {
    conversation_through_the_cli(|m| Endpoint::anthropic(&m.base_url(Api::Anthropic)));
}

#[test]
#[ignore = "peer: llmock; run with cargo xtask test"]
fn llmock_cli_conversation_openai() {
    conversation_through_the_cli(|m| Endpoint::openai(&m.base_url(Api::OpenAi)));
}

#[test]
#[ignore = "peer: llmock; run with cargo xtask test"]
fn llmock_cli_conversation_google() {
    conversation_through_the_cli(|m| Endpoint::google(&m.base_url(Api::Gemini)));
}

/// The OpenAI-compatible dialect (`max_tokens`, no OpenAI-only fields), with the server URL
/// written as Ollama users write it.
#[test]
#[ignore = "peer: llmock; run with cargo xtask test"]
fn llmock_cli_conversation_openai_compatible() {
    conversation_through_the_cli(|m| Endpoint::ollama(&m.url));
}

/// A 529 before anything streamed is retried inside the provider, honouring `retry_after`;
/// the run completes as if nothing happened.
#[test]
#[ignore = "peer: llmock; run with cargo xtask test"]
fn llmock_cli_overloaded_529_is_retried_and_the_run_completes() {
    let mock = Llmock::start();
    let mut behaviors =
        vec![json!({"type": "fail", "status": 529, "retry_after": 0.05, "times": 2})];
    behaviors.extend(conversation().as_array().unwrap().iter().cloned());
    mock.scenario(Value::Array(behaviors));
    let setup = Setup::new();
    let done = setup.run(
        &Endpoint::anthropic(&mock.base_url(Api::Anthropic)),
        &[],
        "Write a greeting to notes/hello.md",
    );
    assert_completed(&done);
    assert_eq!(run_event_types(&done.events), expected_run_events());
    assert_eq!(mock.requests()["count"], 5, "two 529s, then three answers");
    assert_clean_verdict(&mock, "529");
    setup.assert_verified(&job_id(&done.events));
}

/// A stream cut after text was streamed cannot be retried transparently: the runtime emits a
/// `retry` event, tells the model, and the next generation carries on to completion.
#[test]
#[ignore = "peer: llmock; run with cargo xtask test"]
fn llmock_cli_stream_cut_mid_content_is_a_retry_event_then_completion() {
    // Paced chunks: the first words are handed out well before the cut.
    let mock = Llmock::start_with(&["--stream-chunk-delay-ms", "30"]);
    let mut behaviors = vec![
        json!({"type": "reply", "text": "Let me think about this one step at a time, carefully and slowly."}),
        json!({"type": "stream_fault", "kind": "truncate", "after_chunks": 4}),
    ];
    behaviors.extend(conversation().as_array().unwrap().iter().cloned());
    mock.scenario(Value::Array(behaviors));
    let setup = Setup::new();
    let done = setup.run(
        &Endpoint::openai(&mock.base_url(Api::OpenAi)),
        &[],
        "Write a greeting to notes/hello.md",
    );
    assert_completed(&done);
    let mut want: Vec<String> = ["startRun", "startGeneration", "retry", "continueToNextStep"]
        .map(str::to_string)
        .to_vec();
    want.extend(expected_run_events().into_iter().skip(1));
    assert_eq!(run_event_types(&done.events), want);
    let retry = done.events.iter().find(|e| e["type"] == "retry").unwrap();
    assert!(
        retry.to_string().to_lowercase().contains("trunc"),
        "the reason names the cut: {retry}"
    );
    assert_eq!(
        std::fs::read_to_string(setup.ws().join("notes/hello.md")).unwrap(),
        GREETING
    );
    let requests = mock.requests();
    assert_eq!(requests["count"], 4);
    // The next generation tells the model about the cut and never carries the half answer.
    let second = requests["requests"][1]["body"].to_string();
    assert!(second.to_lowercase().contains("trunc"), "{second}");
    assert!(!second.contains("Let me think"), "{second}");
    // llmock pairs a retry with the cut request by an identical body; the runtime's retry is
    // a new generation whose request also carries the failure for the model, so llmock
    // reports the cut request as not retried. That finding is the only one allowed.
    let errors: Vec<Value> = mock
        .error_findings()
        .into_iter()
        .filter(|f| !(f["code"] == "truncated_stream_accepted" && f["call"] == 1))
        .collect();
    assert!(errors.is_empty(), "llmock found client bugs: {errors:#?}");
    setup.assert_verified(&job_id(&done.events));
}
