//! Approval stops (`requireApproval`): the run stops before a call that needs approval,
//! and resumes with the operator's decisions.

#![allow(clippy::unwrap_used)] // test helpers: failing loudly is the point

mod support;

use perstack_core::CheckpointStatus;
use perstack_events::{Event, RunEventPayload};
use perstack_runtime::{RunInput, RunOutcome, RunSetting, RuntimeError};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::script::{Turn, call, say};
use support::server::Reply;
use support::{CONFIG, Harness};

/// A harness whose `main` Expert declares the test host's `tools` skill with
/// `requireApproval = patterns`.
async fn harness(patterns: &[&str], replies: Vec<Reply>) -> Harness {
    let mut h = Harness::new(replies).await;
    let list: Vec<String> = patterns.iter().map(|p| format!("{p:?}")).collect();
    let toml = format!(
        "{CONFIG}\n[experts.main.skills.tools]\ntype = \"mcpStdioSkill\"\ncommand = \"unused\"\nargs = []\nrequireApproval = [{}]\n",
        list.join(", ")
    );
    h.config = toml::from_str(&toml).unwrap();
    h
}

/// `setting` resumed from the stored checkpoint of `stopped` with `input`, as the CLI does.
fn resume(h: &Harness, setting: &RunSetting, stopped: &RunOutcome, input: RunInput) -> RunSetting {
    let cp = h
        .storage
        .load_checkpoint(&stopped.job.id, &stopped.checkpoint.id)
        .unwrap();
    let mut next = setting.clone();
    next.run_id = perstack_core::id::new_id();
    next.checkpoint = Some(cp);
    next.input = input;
    next
}

fn pending_ids(outcome: &RunOutcome) -> Vec<String> {
    outcome
        .checkpoint
        .pending_tool_calls
        .iter()
        .flatten()
        .map(|c| c.id.clone())
        .collect()
}

#[tokio::test]
async fn approval_stop_then_approve_runs_the_tool() {
    let h = harness(
        &["echo"],
        vec![
            Turn::new()
                .tool("c1", "echo", json!({"text": "risky"}))
                .tool("c2", "fail", json!({"text": "safe"}))
                .reply(),
            say("Done."),
        ],
    )
    .await;
    let setting = h.setting("Do it");
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByApproval);
    assert_eq!(stopped.exit_code(), 3);
    // Nothing of the step ran; both calls wait, only c1 for a decision.
    assert_eq!(h.host.calls(), vec![]);
    assert_eq!(pending_ids(&stopped), ["c1", "c2"]);
    let awaiting = h
        .events()
        .into_iter()
        .find_map(|e| {
            let Event::Run(r) = e else { return None };
            let RunEventPayload::StopRunByApproval { tool_calls, .. } = &r.payload else {
                return None;
            };
            Some(tool_calls.iter().map(|c| c.id.clone()).collect::<Vec<_>>())
        })
        .unwrap();
    assert_eq!(awaiting, ["c1"]);
    h.assert_stored(&stopped);

    let done = h
        .run(resume(
            &h,
            &setting,
            &stopped,
            RunInput::default().approve("c1"),
        ))
        .await;
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.text.as_deref(), Some("Done."));
    assert_eq!(done.job.id, stopped.job.id);
    let ran: Vec<String> = h.host.calls().into_iter().map(|c| c.id).collect();
    assert_eq!(ran, ["c1", "c2"]);
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&done);
}

#[tokio::test]
async fn deny_returns_the_denial_to_the_model() {
    let h = harness(
        &["echo"],
        vec![
            call("c1", "echo", json!({"text": "risky"})),
            say("Understood."),
        ],
    )
    .await;
    let setting = h.setting("Do it");
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByApproval);
    let input = RunInput::default().deny("c1", Some("not on a Friday".into()));
    let done = h.run(resume(&h, &setting, &stopped, input)).await;
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.text.as_deref(), Some("Understood."));
    assert_eq!(h.host.calls(), vec![], "a denied call never runs");
    let last = h.llm.requests().pop().unwrap();
    let tool_msg = &last["messages"].as_array().unwrap()[2];
    assert_eq!(tool_msg["content"][0]["tool_use_id"], json!("c1"));
    assert_eq!(
        tool_msg["content"][0]["content"][0]["text"],
        json!("Error: the operator denied this tool call; it was not run. Reason: not on a Friday")
    );
    assert_eq!(tool_msg["content"][0]["is_error"], json!(true));
    h.assert_stored(&done);
}

#[tokio::test]
async fn non_matching_tool_runs_without_stopping() {
    let h = harness(
        &["fail", "meet*"],
        vec![call("c1", "echo", json!({"text": "hi"})), say("Done.")],
    )
    .await;
    let done = h.run(h.setting("Do it")).await;
    assert_eq!(done.status(), CheckpointStatus::Completed);
    let ran: Vec<String> = h.host.calls().into_iter().map(|c| c.id).collect();
    assert_eq!(ran, ["c1"]);
}

#[tokio::test]
async fn prefix_pattern_matches_tool_names() {
    let h = harness(&["ec*"], vec![call("c1", "echo", json!({"text": "hi"}))]).await;
    let stopped = h.run(h.setting("Do it")).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByApproval);
    assert_eq!(pending_ids(&stopped), ["c1"]);
    assert_eq!(h.host.calls(), vec![]);
}

#[tokio::test]
async fn resume_needs_a_decision_for_every_awaiting_call() {
    let h = harness(
        &["echo"],
        vec![
            Turn::new()
                .tool("c1", "echo", json!({"text": "a"}))
                .tool("c2", "echo", json!({"text": "b"}))
                .reply(),
        ],
    )
    .await;
    let setting = h.setting("Do it");
    let stopped = h.run(setting.clone()).await;
    let undecided = h
        .runtime
        .run(resume(
            &h,
            &setting,
            &stopped,
            RunInput::default().approve("c1"),
        ))
        .await;
    assert!(
        matches!(&undecided, Err(RuntimeError::InvalidInput(m)) if m.contains("c2")),
        "{undecided:?}"
    );
    let unknown = h
        .runtime
        .run(resume(
            &h,
            &setting,
            &stopped,
            RunInput::default().approve("c9"),
        ))
        .await;
    assert!(
        matches!(&unknown, Err(RuntimeError::InvalidInput(m)) if m.contains("c9")),
        "{unknown:?}"
    );
    assert_eq!(h.host.calls(), vec![]);
}
