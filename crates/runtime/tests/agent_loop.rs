//! The agent loop end to end: the real runtime and HTTP provider against a scripted LLM on
//! loopback and a test tool host. Event sequences are snapshotted as outlines.

mod support;

use perstack_core::CheckpointStatus;
use perstack_core::config::BASE_SKILL_NAME;
use perstack_runtime::{InteractiveToolCallResult, RunInput};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::script::{Turn, call, say};
use support::server::Reply;
use support::{Harness, Options};

#[tokio::test]
async fn plain_completion() {
    let h = Harness::new(vec![say("Four.")]).await;
    let outcome = h.run(h.setting("What is 2+2?")).await;
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(outcome.text.as_deref(), Some("Four."));
    assert_eq!(outcome.checkpoint.usage.total_tokens, 15);
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&outcome);
    // The request carries the instruction as a cached system prompt, the query and the tools.
    let req = &h.llm.requests()[0];
    assert_eq!(
        req["system"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert_eq!(
        req["messages"][0]["content"][0]["text"],
        json!("What is 2+2?")
    );
    assert_eq!(req["tools"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn multi_step_tool_use_then_streamed_result() {
    let h = Harness::new(vec![
        call("c1", "echo", json!({"text": "hi"})),
        call("c2", "fail", json!({"text": "build"})),
        call("c3", "attemptCompletion", json!({})),
        Turn::new().text(&["The build ", "failed."]).reply(),
    ])
    .await;
    let outcome = h.run(h.setting("Build it")).await;
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    assert_eq!(outcome.text.as_deref(), Some("The build failed."));
    assert_eq!(outcome.checkpoint.step_number, 3);
    assert_eq!(outcome.job.total_steps, 3);
    assert_eq!(outcome.job.usage.total_tokens, 60);
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&outcome);
    let calls: Vec<String> = h.host.calls().iter().map(|c| c.tool_name.clone()).collect();
    assert_eq!(calls, ["echo", "fail", "attemptCompletion"]);
    assert_eq!(h.host.calls()[2].skill_name, BASE_SKILL_NAME);
    // The final generation is offered no tools and answers the attemptCompletion call.
    let last = h.llm.requests().pop().unwrap();
    assert_eq!(last.get("tools"), None);
    let msgs = last["messages"].as_array().unwrap();
    assert_eq!(
        msgs.last().unwrap()["content"][0]["tool_use_id"],
        json!("c3")
    );
}

#[tokio::test]
async fn text_with_attempt_completion_is_the_result() {
    let h = Harness::new(vec![
        Turn::new()
            .text(&["All done."])
            .tool("c1", "attemptCompletion", json!({}))
            .reply(),
    ])
    .await;
    let outcome = h.run(h.setting("Do it")).await;
    assert_eq!(outcome.text.as_deref(), Some("All done."));
    assert_eq!(h.llm.requests().len(), 1, "no second generation");
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&outcome);
}

#[tokio::test]
async fn open_todos_send_the_model_back_to_work() {
    let h = Harness::new(vec![
        call("c1", "attemptCompletion", json!({})),
        call("c2", "echo", json!({"text": "todo b"})),
        call("c3", "attemptCompletion", json!({})),
        say("Both done."),
    ])
    .await;
    h.host
        .answer_completion(r#"{"remainingTodos":[{"id":1,"title":"b","completed":false}]}"#);
    let outcome = h.run(h.setting("Do a and b")).await;
    assert_eq!(outcome.text.as_deref(), Some("Both done."));
    insta::assert_snapshot!(h.outline());
}

#[tokio::test]
async fn parallel_tool_calls_run_concurrently() {
    let h = Harness::with(
        vec![
            Turn::new()
                .tool("c1", "meet", json!({"text": "a"}))
                .tool("c2", "meet", json!({"text": "b"}))
                .tool("c3", "echo", json!({"text": "c"}))
                .reply(),
            say("Met."),
        ],
        Options {
            parties: 2,
            ..Options::default()
        },
    )
    .await;
    let outcome = h.run(h.setting("Meet")).await;
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    // Both rendezvous calls were in flight together, else each would answer "alone".
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&outcome);
}

#[tokio::test]
async fn interactive_tool_stops_and_resume_continues() {
    let h = Harness::new(vec![
        Turn::new()
            .tool("c1", "echo", json!({"text": "first"}))
            .tool("c2", "ask", json!({"text": "Which colour?"}))
            .reply(),
        say("Blue it is."),
    ])
    .await;
    let setting = h.setting("Pick a colour");
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByInteractiveTool);
    assert_eq!(stopped.exit_code(), 3);
    let pending = stopped.checkpoint.pending_tool_calls.clone().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].tool_name, "ask");
    h.assert_stored(&stopped);

    // Resume from the stored checkpoint, as the CLI does with -i.
    let cp = h
        .storage
        .load_checkpoint(&stopped.job.id, &stopped.checkpoint.id)
        .unwrap();
    let mut resume = setting.clone();
    resume.run_id = perstack_core::id::new_id();
    resume.checkpoint = Some(cp);
    resume.input = RunInput::tool_result(InteractiveToolCallResult {
        tool_call_id: "c2".into(),
        tool_name: "ask".into(),
        skill_name: "app".into(),
        text: "blue".into(),
        is_error: None,
    });
    let done = h.run(resume).await;
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.text.as_deref(), Some("Blue it is."));
    assert_eq!(done.job.id, stopped.job.id);
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&done);
    // The model saw both results in one tool message, answering both calls.
    let last = h.llm.requests().pop().unwrap();
    let tool_msg = &last["messages"].as_array().unwrap()[2];
    let ids: Vec<&str> = tool_msg["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["tool_use_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c1", "c2"]);
}

#[tokio::test]
async fn max_steps_stops_the_run() {
    let h = Harness::new(vec![
        call("c1", "echo", json!({"text": "1"})),
        call("c2", "echo", json!({"text": "2"})),
        call("c3", "echo", json!({"text": "3"})),
    ])
    .await;
    let mut setting = h.setting("Loop");
    setting.max_steps = Some(2);
    let outcome = h.run(setting).await;
    assert_eq!(
        outcome.status(),
        CheckpointStatus::StoppedByExceededMaxSteps
    );
    assert_eq!(outcome.exit_code(), 4);
    assert_eq!(h.llm.requests().len(), 2);
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&outcome);
}

#[tokio::test]
async fn retry_after_529_by_the_runtime() {
    // The provider does not retry itself here: the runtime's retry is what is tested.
    let h = Harness::new(vec![Reply::overloaded(), say("Recovered.")]).await;
    let outcome = h.run(h.setting("Hello")).await;
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    assert_eq!(outcome.text.as_deref(), Some("Recovered."));
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&outcome);
}

#[tokio::test]
async fn a_529_retried_inside_the_provider_is_no_state_change() {
    let h = Harness::with(
        vec![Reply::overloaded(), say("Fine.")],
        Options {
            provider_retries: 1,
            ..Options::default()
        },
    )
    .await;
    let outcome = h.run(h.setting("Hello")).await;
    assert_eq!(outcome.text.as_deref(), Some("Fine."));
    assert_eq!(h.llm.requests().len(), 2);
    let types: Vec<String> = h
        .events()
        .iter()
        .map(|e| e.type_name().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "initializeRuntime",
            "startRun",
            "startGeneration",
            "completeRun"
        ]
    );
}

#[tokio::test]
async fn stream_cut_after_content_is_retried_by_the_runtime() {
    let cut = Turn::new().text(&["Half an ans"]).body_without_end();
    let h = Harness::new(vec![Reply::SseThenDrop(cut), say("Whole answer.")]).await;
    let outcome = h.run(h.setting("Hello")).await;
    assert_eq!(outcome.text.as_deref(), Some("Whole answer."));
    let types: Vec<String> = h
        .events()
        .iter()
        .map(|e| e.type_name().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "initializeRuntime",
            "startRun",
            "startGeneration",
            "retry",
            "continueToNextStep",
            "startGeneration",
            "completeRun"
        ]
    );
}

#[tokio::test]
async fn permanent_error_stops_with_a_resumable_checkpoint() {
    let h = Harness::new(vec![Reply::bad_request("model not found"), say("Back.")]).await;
    let setting = h.setting("Hello");
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByError);
    assert_eq!(stopped.exit_code(), 1);
    let error = stopped.checkpoint.error.clone().unwrap();
    assert_eq!(error.status_code, Some(400));
    assert!(!error.is_retryable);
    h.assert_stored(&stopped);
    insta::assert_snapshot!("permanent_error_stop", h.outline());

    // The stored checkpoint resumes with a new query.
    let mut resume = setting;
    resume.run_id = perstack_core::id::new_id();
    resume.checkpoint = Some(
        h.storage
            .load_checkpoint(&stopped.job.id, &stopped.checkpoint.id)
            .unwrap(),
    );
    resume.input = RunInput::query("Try again");
    let done = h.run(resume).await;
    assert_eq!(done.text.as_deref(), Some("Back."));
    assert_eq!(done.job.status, perstack_core::JobStatus::Completed);
}

#[tokio::test]
async fn retries_exhausted_stop_with_an_error() {
    let h = Harness::new(vec![
        Reply::overloaded(),
        Reply::overloaded(),
        Reply::overloaded(),
    ])
    .await;
    let outcome = h.run(h.setting("Hello")).await;
    assert_eq!(outcome.status(), CheckpointStatus::StoppedByError);
    assert_eq!(
        h.llm.remaining(),
        0,
        "first try and max_retries (2) retries"
    );
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&outcome);
}

#[tokio::test]
async fn empty_reply_is_retried_with_a_nudge() {
    let h = Harness::new(vec![Turn::new().reply(), say("Here.")]).await;
    let outcome = h.run(h.setting("Hello")).await;
    assert_eq!(outcome.text.as_deref(), Some("Here."));
    insta::assert_snapshot!(h.outline());
}

#[tokio::test]
async fn reasoning_is_streamed() {
    let h = Harness::new(vec![
        Turn::new()
            .thinking(&["Let me ", "think."])
            .tool("c1", "attemptCompletion", json!({}))
            .reply(),
        Turn::new()
            .thinking(&["Summing up."])
            .text(&["Forty", "-two."])
            .reply(),
    ])
    .await;
    let outcome = h.run(h.setting("Meaning of life?")).await;
    assert_eq!(outcome.text.as_deref(), Some("Forty-two."));
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&outcome);
}

#[tokio::test]
async fn unknown_tool_is_answered_with_an_error_result() {
    let h = Harness::new(vec![call("c1", "nope", json!({})), say("Sorry.")]).await;
    let outcome = h.run(h.setting("Hello")).await;
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    insta::assert_snapshot!(h.outline());
}
