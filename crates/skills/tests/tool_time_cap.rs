//! The operator's limit on one tool call (`--max-tool-time`, `maxToolCallSeconds`): `exec`
//! cannot ask for more with its `timeout`, and an MCP call still running at the limit ends
//! with an error result the model can read.

// Test code: panicking helpers are fine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use perstack_core::config::ExpertConfig;
use perstack_skills::host::SkillHost;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const CAP_TEXT: &str = "the operator limits each tool call to 1 s (--max-tool-time / \
                        maxToolCallSeconds), and a call cannot raise that limit; split the \
                        work into shorter calls.";

#[tokio::test]
async fn exec_asking_for_more_than_the_cap_ends_at_the_cap_with_an_error_naming_it() {
    let ws = workspace();
    let opts = options(&ws).with_max_tool_time(Duration::from_secs(1));
    let (sink, _ev) = events();
    let base_only = ExpertConfig {
        instruction: "test".into(),
        ..ExpertConfig::default()
    };
    let host = SkillHost::start(&base_only, &no_experts(), opts, sink)
        .await
        .unwrap();
    let started = Instant::now();
    let out = host
        .call(
            "1",
            "exec",
            args(json!({
                "command": "sleep", "args": ["30"], "env": {}, "cwd": ".",
                "stdout": true, "stderr": true, "timeout": 999_999_999u64
            })),
        )
        .await
        .into_output()
        .unwrap();
    let took = started.elapsed();
    assert!(out.is_error, "{out:?}");
    let body: Value = serde_json::from_str(&texts(&out.result)[0]).unwrap();
    assert_eq!(
        body,
        json!({
            "error": "Timeout",
            "message": format!("Command timed out after 1000ms: {CAP_TEXT}")
        })
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // A call within the cap keeps its own timeout and message.
    let short = host
        .call(
            "2",
            "exec",
            args(json!({
                "command": "sleep", "args": ["30"], "env": {}, "cwd": ".",
                "stdout": true, "stderr": true, "timeout": 200
            })),
        )
        .await
        .into_output()
        .unwrap();
    let body: Value = serde_json::from_str(&texts(&short.result)[0]).unwrap();
    assert_eq!(
        body,
        json!({"error": "Timeout", "message": "Command timed out after 200ms."})
    );
    host.shutdown().await;
}

#[tokio::test]
async fn an_mcp_call_over_the_cap_ends_with_an_error_result_naming_it() {
    let ws = workspace();
    let opts = options(&ws).with_max_tool_time(Duration::from_secs(1));
    let (sink, _ev) = events();
    let expert = expert_with(vec![("test", test_server_skill(&[]))]);
    let host = SkillHost::start(&expert, &no_experts(), opts, sink)
        .await
        .unwrap();
    let started = Instant::now();
    let slow = host
        .call("1", "sleep", args(json!({"ms": 60_000})))
        .await
        .into_output()
        .unwrap();
    let took = started.elapsed();
    assert!(slow.is_error);
    assert_eq!(
        texts(&slow.result),
        vec![format!(
            "Error calling tool sleep: skill \"test\" did not answer in time: {CAP_TEXT}"
        )]
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // The session survives the call.
    let after = host
        .call("2", "echo", args(json!({"text": "still here"})))
        .await
        .into_output()
        .unwrap();
    assert_eq!(texts(&after.result), vec!["still here"]);
    host.shutdown().await;
}
