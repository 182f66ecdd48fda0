//! A skill asking the user during a tool call (MCP elicitation) in a headless run: the run
//! stops for the application like an interactive tool (`stoppedByInteractiveTool`, exit 3,
//! the question in `checkpoint.metadata.elicitation`); resuming with the answer runs the
//! call again, the server gets the answer at once and the tool's result goes to the model.
//! The server is our rmcp test server, whose `ask` tool asks for a name (default "Ada") and
//! an age and returns the answer it got.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use perstack_core::CheckpointStatus;
use perstack_core::config::PerstackConfig;
use perstack_core::elicitation::{ElicitationReply, ElicitationState};
use perstack_runtime::{
    InteractiveToolCallResult, RunInput, RunOutcome, SkillHostFactory, waiting_checkpoints,
};
use perstack_skills::host::HostOptions;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::script::{call, say};
use support::{HELPER, Harness, MAIN};

async fn harness(answer_reply: &str) -> Harness {
    let h = Harness::new(vec![call("c1", "ask", json!({})), say(answer_reply)]).await;
    with_test_server(h, "main", "")
}

/// `h` with the test server's `ask` as skill `test` of `asker`; `more` is added to the config.
fn with_test_server(mut h: Harness, asker: &str, more: &str) -> Harness {
    let server = perstack_testkit::mcp_test_server();
    let config = format!(
        r#"
[experts.{asker}]
instruction = "Ask the user."

[experts.{asker}.skills.test]
type = "mcpStdioSkill"
command = "{}"
pick = ["ask"]
{more}
"#,
        server.display()
    );
    h.config = toml::from_str::<PerstackConfig>(&config).unwrap();
    let env: BTreeMap<String, String> = [("PATH", "/usr/bin:/bin")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut options = HostOptions::new(h.dir.path()).with_env(Arc::new(env));
    options.elicitation_stops = true;
    let factory = SkillHostFactory::new(h.config.experts.clone(), options);
    h.with_factory(Arc::new(factory))
}

/// Runs until the server asks; checks the stop.
async fn stop(h: &Harness) -> RunOutcome {
    let stopped = h.run(h.setting("Who am I?")).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByInteractiveTool);
    assert_eq!(stopped.exit_code(), 3);
    let pending = stopped.checkpoint.pending_tool_calls.clone().unwrap();
    assert_eq!(pending[0].id, "c1");
    insta::assert_json_snapshot!("stop_metadata", stopped.checkpoint.metadata);
    h.assert_stored(&stopped);
    stopped
}

/// Resumes the stored checkpoint with `text` as the answer, as `--continue -i` does.
async fn resume(
    h: &Harness,
    stopped: &RunOutcome,
    text: &str,
) -> Result<RunOutcome, perstack_runtime::RuntimeError> {
    let cp = h
        .storage
        .load_checkpoint(&stopped.job.id, &stopped.checkpoint.id)
        .unwrap();
    resume_from(h, cp, text).await
}

/// Resumes `cp` with `text` as the answer.
async fn resume_from(
    h: &Harness,
    cp: perstack_core::Checkpoint,
    text: &str,
) -> Result<RunOutcome, perstack_runtime::RuntimeError> {
    let mut setting = h.setting("Who am I?");
    setting.job_id = cp.job_id.clone();
    setting.run_id = perstack_core::id::new_id();
    setting.checkpoint = Some(cp);
    setting.input = RunInput::tool_result(InteractiveToolCallResult {
        tool_call_id: "c1".into(),
        tool_name: "ask".into(),
        skill_name: "test".into(),
        text: text.into(),
        is_error: None,
    });
    h.runtime.run(setting).await
}

/// The text of the last tool result the model was sent.
fn tool_result_sent(h: &Harness) -> Value {
    let last = h.llm.requests().last().cloned().unwrap();
    let messages = last["messages"].as_array().unwrap();
    let result = messages
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .rfind(|p| p["type"] == "tool_result")
        .unwrap();
    let text = result["content"][0]["text"].as_str().unwrap();
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn an_elicitation_stops_the_run_and_the_answer_reaches_the_server_on_resume() {
    let h = harness("You are Ada, 41.").await;
    let stopped = stop(&h).await;
    let done = resume(&h, &stopped, r#"{"age": 41}"#).await.unwrap();
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.text.as_deref(), Some("You are Ada, 41."));
    // The default of the field left out was filled in.
    assert_eq!(
        tool_result_sent(&h),
        json!({"action": "accept", "content": {"age": 41, "name": "Ada"}})
    );
    assert_eq!(done.checkpoint.metadata, None);
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&done);
}

#[tokio::test]
async fn a_declined_elicitation_reaches_the_server_as_declined() {
    let h = harness("You would rather not say.").await;
    let stopped = stop(&h).await;
    let done = resume(&h, &stopped, "decline").await.unwrap();
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(tool_result_sent(&h), json!({"action": "decline"}));
}

#[tokio::test]
async fn an_answer_that_is_not_an_object_decline_or_cancel_is_refused() {
    let h = harness("unused").await;
    let stopped = stop(&h).await;
    let err = resume(&h, &stopped, "Ada").await.unwrap_err();
    assert!(err.to_string().contains("JSON object"), "{err}");
}

#[tokio::test]
async fn a_question_the_answers_do_not_cover_stops_the_run_again() {
    let h = harness("unused").await;
    let stopped = stop(&h).await;
    // As if the server had asked something else before: the answer given is for that
    // question, so the call's real question is still open when it runs again.
    let mut cp = h
        .storage
        .load_checkpoint(&stopped.job.id, &stopped.checkpoint.id)
        .unwrap();
    let mut state = ElicitationState::of(&cp).unwrap();
    state.pending.as_mut().unwrap().message = "Where are you?".into();
    state.store(&mut cp);
    let again = resume_from(&h, cp, "cancel").await.unwrap();
    assert_eq!(again.status(), CheckpointStatus::StoppedByInteractiveTool);
    let state = ElicitationState::of(&again.checkpoint).unwrap();
    assert_eq!(
        state.pending.as_ref().map(|p| p.message.as_str()),
        Some("Who are you?")
    );
    let earlier: Vec<(&str, &ElicitationReply)> = state
        .answered
        .iter()
        .map(|a| (a.request.message.as_str(), &a.answer))
        .collect();
    assert_eq!(earlier, vec![("Where are you?", &ElicitationReply::Cancel)]);
    insta::assert_json_snapshot!("answered_metadata", again.checkpoint.metadata);
    assert_eq!(again.checkpoint.pending_tool_calls.unwrap()[0].id, "c1");
}

#[tokio::test]
async fn a_delegate_asking_stops_the_job_and_resuming_answers_the_delegate() {
    let h = Harness::new(vec![]).await;
    h.llm.route(
        MAIN,
        vec![
            call("d1", "helper", json!({"query": "Ask who I am"})),
            say("You are Ada."),
        ],
    );
    h.llm
        .route(HELPER, vec![call("c1", "ask", json!({})), say("Ada")]);
    let more = r#"
[experts.main]
instruction = "Answer the user's question."
delegates = ["helper"]
"#;
    let mut h = with_test_server(h, "helper", more);
    h.config.experts.get_mut("helper").unwrap().description = Some("Asks the user.".into());
    let setting = h.setting("Who am I?");
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByInteractiveTool);
    assert_eq!(stopped.exit_code(), 3);
    assert_eq!(stopped.checkpoint.expert.key, "helper");
    assert!(ElicitationState::of(&stopped.checkpoint).is_some());
    // As the CLI resumes a job: from the checkpoint it waits in (the delegate's).
    let waiting = waiting_checkpoints(&h.storage, &stopped.job.id).unwrap();
    let done = resume_from(&h, waiting[0].clone(), "{}").await.unwrap();
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.text.as_deref(), Some("You are Ada."));
    assert_eq!(done.job.id, stopped.job.id);
    // The delegate's model got the tool's result: the server had the answer (defaults in).
    let helper_last = h
        .llm
        .requests()
        .into_iter()
        .rfind(|r| {
            r["system"][0]["text"]
                .as_str()
                .is_some_and(|s| s.contains(HELPER))
        })
        .unwrap();
    assert!(
        helper_last["messages"]
            .to_string()
            .contains(r#"{\"action\":\"accept\",\"content\":{\"name\":\"Ada\"}}"#),
        "{}",
        helper_last["messages"]
    );
}
