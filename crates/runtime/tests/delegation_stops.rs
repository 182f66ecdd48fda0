//! Stops for the application inside delegates: the job stops with the delegate's pending
//! call (exit 3), and resuming answers the delegate, which finishes and hands its result to
//! its parent, which continues. Nested delegates and parallel delegates included.

#![allow(clippy::unwrap_used)] // test helpers: failing loudly is the point

mod support;

use perstack_core::{CheckpointStatus, JobStatus};
use perstack_events::{Event, RunEventPayload};
use perstack_runtime::{
    InteractiveToolCallResult, RunInput, RunOutcome, RunSetting, waiting_checkpoints,
};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::outline::{blocks, outline_runs};
use support::script::{Turn, call, say};
use support::{CONFIG, HELPER, Harness, MAIN, OTHER};

/// `setting` resumed the way the CLI does it for `--continue-job JOB`: from the checkpoint
/// the job waits in (the coordinator's Expert key is kept; the runtime runs the delegate).
fn resume(h: &Harness, setting: &RunSetting, stopped: &RunOutcome, input: RunInput) -> RunSetting {
    let waiting = waiting_checkpoints(&h.storage, &stopped.job.id).unwrap();
    assert_eq!(
        waiting.first().map(|c| &c.id),
        Some(&stopped.checkpoint.id),
        "the job waits in the checkpoint it reported"
    );
    let mut next = setting.clone();
    next.run_id = perstack_core::id::new_id();
    next.checkpoint = Some(waiting[0].clone());
    next.input = input;
    next
}

fn answer(id: &str, text: &str) -> RunInput {
    RunInput::tool_result(InteractiveToolCallResult {
        tool_call_id: id.into(),
        tool_name: "ask".into(),
        skill_name: "app".into(),
        text: text.into(),
        is_error: None,
    })
}

/// The last event and the Expert that emitted it.
fn last_run_event(h: &Harness) -> (String, RunEventPayload) {
    h.events()
        .into_iter()
        .rev()
        .find_map(|e| match e {
            Event::Run(r) => Some((r.expert_key.clone(), r.payload.clone())),
            Event::Runtime(_) | Event::Unknown(_) => None,
        })
        .unwrap()
}

fn requests_of(h: &Harness, needle: &str) -> usize {
    h.llm
        .requests()
        .iter()
        .filter(|r| {
            r["system"][0]["text"]
                .as_str()
                .is_some_and(|s| s.contains(needle))
        })
        .count()
}

/// Checks the stop a job reports: status, exit code, job record, the delegate's stop event
/// carrying the pending call.
fn assert_waits_on(h: &Harness, stopped: &RunOutcome, expert: &str, call_id: &str) {
    assert_eq!(stopped.exit_code(), 3);
    assert_eq!(stopped.checkpoint.expert.key, expert);
    assert!(stopped.checkpoint.delegated_by.is_some());
    let pending: Vec<&str> = stopped
        .checkpoint
        .pending_tool_calls
        .iter()
        .flatten()
        .map(|c| c.id.as_str())
        .collect();
    assert!(pending.contains(&call_id), "{pending:?}");
    let job = h.storage.load_job(&stopped.job.id).unwrap();
    let want = if stopped.status() == CheckpointStatus::StoppedByApproval {
        JobStatus::StoppedByApproval
    } else {
        JobStatus::StoppedByInteractiveTool
    };
    assert_eq!(job.status, want);
    assert_eq!(job.finished_at, None);
    h.assert_stored(stopped);
}

#[tokio::test]
async fn delegate_interactive_stop_resumes_the_delegate_then_the_parent() {
    let h = Harness::new(vec![]).await;
    h.llm.route(
        MAIN,
        vec![
            call("d1", "helper", json!({"query": "Ask for a colour"})),
            say("The user likes blue."),
        ],
    );
    h.llm.route(
        HELPER,
        vec![
            call("c1", "ask", json!({"text": "Which colour?"})),
            say("blue"),
        ],
    );
    let setting = h.setting("Find the favourite colour");
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByInteractiveTool);
    assert_waits_on(&h, &stopped, "helper", "c1");
    let (expert, last) = last_run_event(&h);
    assert_eq!(expert, "helper");
    let RunEventPayload::StopRunByInteractiveTool { checkpoint, .. } = last else {
        panic!("{last:?}")
    };
    assert_eq!(checkpoint, stopped.checkpoint);
    // Two generations so far: the job's usage counts both.
    assert_eq!(stopped.job.usage.total_tokens, 30);

    let done = h
        .run(resume(&h, &setting, &stopped, answer("c1", "blue")))
        .await;
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.text.as_deref(), Some("The user likes blue."));
    assert_eq!(done.job.id, stopped.job.id);
    assert_eq!(done.job.status, JobStatus::Completed);
    assert_eq!(done.job.usage.total_tokens, 60);
    assert_eq!(done.checkpoint.usage.total_tokens, 60);
    assert_eq!(
        waiting_checkpoints(&h.storage, &done.job.id).unwrap(),
        vec![]
    );
    insta::assert_snapshot!(blocks(outline_runs(&h.events())));
    h.assert_stored(&done);
}

/// A harness whose `helper` Expert needs approval for the test host's `echo`.
async fn approval_harness() -> Harness {
    let mut h = Harness::new(vec![]).await;
    let toml = format!(
        "{CONFIG}\n[experts.helper.skills.tools]\ntype = \"mcpStdioSkill\"\ncommand = \"unused\"\nargs = []\nrequireApproval = [\"echo\"]\n"
    );
    h.config = toml::from_str(&toml).unwrap();
    h
}

#[tokio::test]
async fn delegate_approval_stop_then_approve() {
    let h = approval_harness().await;
    h.llm.route(
        MAIN,
        vec![
            call("d1", "helper", json!({"query": "Echo it"})),
            say("Echoed."),
        ],
    );
    h.llm.route(
        HELPER,
        vec![call("c1", "echo", json!({"text": "risky"})), say("done")],
    );
    let setting = h.setting("Please echo");
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByApproval);
    assert_waits_on(&h, &stopped, "helper", "c1");
    assert_eq!(h.host.calls(), vec![]);
    let (expert, last) = last_run_event(&h);
    assert_eq!(expert, "helper");
    let RunEventPayload::StopRunByApproval { tool_calls, .. } = last else {
        panic!("{last:?}")
    };
    assert_eq!(tool_calls[0].id, "c1");

    let input = RunInput::default().approve("c1");
    let done = h.run(resume(&h, &setting, &stopped, input)).await;
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.text.as_deref(), Some("Echoed."));
    let ran: Vec<String> = h.host.calls().into_iter().map(|c| c.id).collect();
    assert_eq!(ran, ["c1"]);
    insta::assert_snapshot!(blocks(outline_runs(&h.events())));
    h.assert_stored(&done);
}

#[tokio::test]
async fn delegate_approval_stop_then_deny() {
    let h = approval_harness().await;
    h.llm.route(
        MAIN,
        vec![
            call("d1", "helper", json!({"query": "Echo it"})),
            say("Not echoed."),
        ],
    );
    h.llm.route(
        HELPER,
        vec![call("c1", "echo", json!({"text": "risky"})), say("denied")],
    );
    let setting = h.setting("Please echo");
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByApproval);
    let input = RunInput::default().deny("c1", Some("not today".into()));
    let done = h.run(resume(&h, &setting, &stopped, input)).await;
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.text.as_deref(), Some("Not echoed."));
    assert_eq!(h.host.calls(), vec![], "a denied call never runs");
    // The helper's model saw the denial as an error result.
    let helper_last = h
        .llm
        .requests()
        .into_iter()
        .rfind(|r| r["system"][0]["text"].as_str().unwrap().contains(HELPER))
        .unwrap();
    let result = &helper_last["messages"][2]["content"][0];
    assert_eq!(result["tool_use_id"], json!("c1"));
    assert_eq!(
        result["content"][0]["text"],
        json!("Error: the operator denied this tool call; it was not run. Reason: not today")
    );
    assert_eq!(result["is_error"], json!(true));
    insta::assert_snapshot!(blocks(outline_runs(&h.events())));
    h.assert_stored(&done);
}

#[tokio::test]
async fn nested_delegate_stop_returns_through_every_parent() {
    let h = Harness::new(vec![]).await;
    h.llm.route(
        MAIN,
        vec![
            call("d1", "helper", json!({"query": "Get the colour"})),
            say("Main: green."),
        ],
    );
    h.llm.route(
        HELPER,
        vec![
            call("d2", "other", json!({"query": "Ask the user"})),
            say("Helper: green."),
        ],
    );
    h.llm.route(
        OTHER,
        vec![
            call("c1", "ask", json!({"text": "Which colour?"})),
            say("green"),
        ],
    );
    let setting = h.setting("Colour?");
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByInteractiveTool);
    assert_waits_on(&h, &stopped, "other", "c1");
    assert_eq!(stopped.job.usage.total_tokens, 45);
    let done = h
        .run(resume(&h, &setting, &stopped, answer("c1", "green")))
        .await;
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.text.as_deref(), Some("Main: green."));
    assert_eq!(done.job.usage.total_tokens, 90);
    assert_eq!(done.checkpoint.usage.total_tokens, 90);
    insta::assert_snapshot!(blocks(outline_runs(&h.events())));
    h.assert_stored(&done);
}

#[tokio::test]
async fn parallel_delegates_keep_finished_results_while_one_waits() {
    let h = Harness::new(vec![]).await;
    h.llm.route(
        MAIN,
        vec![
            Turn::new()
                .tool("d1", "helper", json!({"query": "Ask"}))
                .tool("d2", "other", json!({"query": "Compute"}))
                .reply(),
            say("Both answered."),
        ],
    );
    h.llm.route(
        HELPER,
        vec![
            call("c1", "ask", json!({"text": "Name?"})),
            say("name: Ada"),
        ],
    );
    h.llm.route(OTHER, vec![say("sum: 4")]);
    let setting = h.setting("Do both");
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByInteractiveTool);
    assert_waits_on(&h, &stopped, "helper", "c1");
    assert_eq!(stopped.job.usage.total_tokens, 45);
    let done = h
        .run(resume(&h, &setting, &stopped, answer("c1", "Ada")))
        .await;
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.text.as_deref(), Some("Both answered."));
    assert_eq!(done.job.usage.total_tokens, 75);
    // `other` finished before the stop and was not run again.
    assert_eq!(requests_of(&h, OTHER), 1);
    // The parent's model got both results (the first delegate's comes as the resume input,
    // after the others, as in every parallel delegation).
    let last = h.llm.requests().pop().unwrap();
    let results = last["messages"][2]["content"].as_array().unwrap();
    let got: Vec<(&str, &str)> = results
        .iter()
        .map(|b| {
            (
                b["tool_use_id"].as_str().unwrap(),
                b["content"][0]["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("d2", "sum: 4"), ("d1", "name: Ada")]);
    let mut runs = outline_runs(&h.events());
    // The first execution's delegates interleave in any order; show them by Expert.
    runs[1..3].sort();
    insta::assert_snapshot!(blocks(runs));
    h.assert_stored(&done);
}

#[tokio::test]
async fn two_waiting_delegates_are_reported_one_at_a_time() {
    let h = Harness::new(vec![]).await;
    h.llm.route(
        MAIN,
        vec![
            Turn::new()
                .tool("d1", "helper", json!({"query": "Ask a"}))
                .tool("d2", "other", json!({"query": "Ask b"}))
                .reply(),
            say("a and b."),
        ],
    );
    h.llm.route(
        HELPER,
        vec![call("c1", "ask", json!({"text": "a?"})), say("a")],
    );
    h.llm.route(
        OTHER,
        vec![call("c2", "ask", json!({"text": "b?"})), say("b")],
    );
    let setting = h.setting("Ask both");
    let first = h.run(setting.clone()).await;
    // Both stopped; the job reports the first in call order, and waits in both.
    assert_waits_on(&h, &first, "helper", "c1");
    let waiting: Vec<String> = waiting_checkpoints(&h.storage, &first.job.id)
        .unwrap()
        .into_iter()
        .map(|c| c.expert.key)
        .collect();
    assert_eq!(waiting, ["helper", "other"]);
    assert_eq!(first.job.usage.total_tokens, 45);

    let second = h.run(resume(&h, &setting, &first, answer("c1", "a"))).await;
    // The helper finished; the parent still waits for `other`.
    assert_eq!(second.status(), CheckpointStatus::StoppedByInteractiveTool);
    assert_waits_on(&h, &second, "other", "c2");
    assert_eq!(second.job.usage.total_tokens, 60);

    let done = h
        .run(resume(&h, &setting, &second, answer("c2", "b")))
        .await;
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.text.as_deref(), Some("a and b."));
    assert_eq!(done.job.usage.total_tokens, 90);
    assert_eq!(requests_of(&h, HELPER), 2);
    assert_eq!(requests_of(&h, OTHER), 2);
    let mut runs = outline_runs(&h.events());
    runs[1..3].sort();
    insta::assert_snapshot!(blocks(runs));
    h.assert_stored(&done);
}
