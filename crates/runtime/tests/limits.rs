//! Limits, bad input and concurrency: token and cost budgets, generation timeout, input that
//! does not fit the checkpoint, several executions on one runtime.

mod support;

use std::time::Duration;

use perstack_core::{CheckpointStatus, ModelPrice};
use perstack_runtime::{InteractiveToolCallResult, RunInput, RunSetting, RuntimeError};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::Harness;
use support::script::{call, say};
use support::server::Reply;

#[tokio::test]
async fn token_budget_stops_the_run_resumably() {
    let h = Harness::new(vec![
        call("c1", "echo", json!({"text": "1"})),
        call("c2", "echo", json!({"text": "2"})),
        say("Finished."),
    ])
    .await;
    let mut setting = h.setting("Work");
    setting.max_total_tokens = Some(20);
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByBudget);
    assert_eq!(stopped.exit_code(), 5);
    assert_eq!(
        stopped.job.status,
        perstack_core::JobStatus::StoppedByBudget
    );
    h.assert_stored(&stopped);

    // Resumed with a larger budget and no new query, the run simply goes on.
    let mut resume = setting;
    resume.run_id = perstack_core::id::new_id();
    resume.max_total_tokens = Some(1000);
    resume.input = RunInput::default();
    resume.checkpoint = Some(stopped.checkpoint.clone());
    let done = h.run(resume).await;
    assert_eq!(done.text.as_deref(), Some("Finished."));
    assert_eq!(done.job.usage.total_tokens, 45);
    insta::assert_snapshot!(h.outline());
}

#[tokio::test]
async fn a_hanging_generation_times_out_and_is_retried() {
    let h = Harness::new(vec![Reply::Hang, say("Awake.")]).await;
    let mut setting = h.setting("Hello");
    setting.timeout = Duration::from_millis(300);
    let outcome = h.run(setting).await;
    assert_eq!(outcome.text.as_deref(), Some("Awake."));
    let retry = h
        .events()
        .into_iter()
        .find(|e| e.type_name() == "retry")
        .unwrap();
    let json = serde_json::to_value(&retry).unwrap();
    assert!(
        json["reason"].as_str().unwrap().contains("TimeoutError"),
        "{json}"
    );
}

#[tokio::test]
async fn input_that_does_not_fit_the_checkpoint_is_refused() {
    let h = Harness::new(vec![call("c1", "ask", json!({"text": "?"}))]).await;
    let mut fresh = h.setting("x");
    fresh.input = RunInput::default();
    assert!(matches!(
        h.runtime.run(fresh).await,
        Err(RuntimeError::InvalidInput(_))
    ));

    let setting = h.setting("Ask me");
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByInteractiveTool);
    let mut resume = setting.clone();
    resume.checkpoint = Some(stopped.checkpoint.clone());
    resume.input = RunInput::query("not a tool result");
    assert!(matches!(
        h.runtime.run(resume.clone()).await,
        Err(RuntimeError::InvalidInput(_))
    ));
    resume.input = RunInput::tool_result(InteractiveToolCallResult {
        tool_call_id: "no-such-call".into(),
        tool_name: "ask".into(),
        skill_name: "app".into(),
        text: "x".into(),
        is_error: None,
    });
    let err = h.runtime.run(resume).await.unwrap_err();
    assert!(err.to_string().contains("no-such-call"), "{err}");

    let mut unknown = setting;
    unknown.expert_key = "nobody".into();
    assert!(matches!(
        h.runtime.run(unknown).await,
        Err(RuntimeError::UnknownExpert(_))
    ));
}

#[tokio::test]
async fn one_runtime_runs_executions_concurrently() {
    let h = Harness::new(vec![say("A"), say("B")]).await;
    let (a, b) = tokio::join!(
        h.runtime.run(h.setting("first")),
        h.runtime.run(h.setting("second"))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.job.id, b.job.id);
    let mut texts = vec![a.text.unwrap(), b.text.unwrap()];
    texts.sort();
    assert_eq!(texts, ["A", "B"]);
    assert_eq!(h.storage.list_jobs().unwrap().len(), 2);
}

#[tokio::test]
async fn wall_clock_limit_stops_the_run_resumably() {
    let h = Harness::new(vec![Reply::Hang, say("Later.")]).await;
    let mut setting = h.setting("Hello");
    setting.max_duration = Some(Duration::from_millis(200));
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByBudget);
    assert_eq!(stopped.exit_code(), 5);
    let last = serde_json::to_value(h.events().last().unwrap()).unwrap();
    assert_eq!(last["type"], "stopRunByBudget");
    assert_eq!(last["reason"], "maxDuration 200 ms reached");
    assert_eq!(last["budget"], json!({"kind": "duration", "limit": 200}));
    h.assert_stored(&stopped);

    let mut resume = setting;
    resume.run_id = perstack_core::id::new_id();
    resume.max_duration = None;
    resume.input = RunInput::default();
    resume.checkpoint = Some(stopped.checkpoint.clone());
    assert_eq!(h.run(resume).await.text.as_deref(), Some("Later."));
}

/// `setting` with a cost budget of `usd` and a round price for its model: 1000 USD per
/// million input tokens, 2000 per million output, so one scripted turn (10 in, 5 out) costs
/// 0.02 USD.
fn with_cost_budget(mut setting: RunSetting, usd: f64) -> RunSetting {
    setting.max_total_cost = Some(usd);
    setting.prices.insert(
        setting.model.clone(),
        ModelPrice {
            input: 1000.0,
            output: 2000.0,
            cache_read: 100.0,
            cache_write: 1250.0,
        },
    );
    setting
}

#[tokio::test]
async fn cost_budget_stops_the_run_resumably_and_a_larger_budget_finishes_it() {
    let h = Harness::new(vec![
        call("c1", "echo", json!({"text": "1"})),
        call("c2", "echo", json!({"text": "2"})),
        say("Finished."),
    ])
    .await;
    let setting = with_cost_budget(h.setting("Work"), 0.03);
    let stopped = h.run(setting.clone()).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByBudget);
    assert_eq!(stopped.exit_code(), 5);
    assert_eq!(
        stopped.job.status,
        perstack_core::JobStatus::StoppedByBudget
    );
    assert_eq!(stopped.checkpoint.step_number, 2);
    h.assert_stored(&stopped);
    let last = serde_json::to_value(h.events().last().unwrap()).unwrap();
    assert_eq!(last["type"], "stopRunByBudget");
    assert_eq!(
        last["reason"],
        "maxTotalCost $0.03 reached: $0.0400 spent (estimated at claude-sonnet-4-5's price)"
    );
    assert_eq!(
        last["budget"],
        json!({"kind": "cost", "limit": 0.03, "used": 0.04, "model": "claude-sonnet-4-5"})
    );

    // Continued with a larger budget and no new query, the run goes on to its end.
    let mut resume = with_cost_budget(setting, 1.0);
    resume.run_id = perstack_core::id::new_id();
    resume.input = RunInput::default();
    resume.checkpoint = Some(stopped.checkpoint.clone());
    let done = h.run(resume).await;
    assert_eq!(done.text.as_deref(), Some("Finished."));
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(done.job.usage.total_tokens, 45);
    h.assert_stored(&done);
}

#[tokio::test]
async fn cost_budget_counts_the_delegates_usage() {
    let h = Harness::new(vec![]).await;
    h.llm.route(
        support::MAIN,
        vec![
            call("d1", "helper", json!({"query": "Find the answer"})),
            call("c1", "echo", json!({"text": "1"})),
            say("Never reached."),
        ],
    );
    h.llm.route(support::HELPER, vec![say("42")]);
    // The parent's own two turns cost 0.04 USD; with the delegate's turn the job spent 0.06.
    let stopped = h.run(with_cost_budget(h.setting("Ask"), 0.05)).await;
    assert_eq!(stopped.status(), CheckpointStatus::StoppedByBudget);
    let last = serde_json::to_value(h.events().last().unwrap()).unwrap();
    assert_eq!(last["budget"]["kind"], "cost");
    let used = last["budget"]["used"].as_f64().unwrap();
    assert!((used - 0.06).abs() < 1e-9, "{used}");
    // Parent, delegate, parent: the parent's last turn is never asked for.
    assert_eq!(h.llm.requests().len(), 3);
    assert_eq!(stopped.checkpoint.usage.total_tokens, 45);
}

#[tokio::test]
async fn cost_budget_with_an_unpriced_model_fails_before_any_generation() {
    let h = Harness::new(vec![say("Too late.")]).await;
    let mut setting = h.setting("Work");
    setting.model = "mystery-model-7".into();
    setting.max_total_cost = Some(1.0);
    let err = h.runtime.run(setting.clone()).await.unwrap_err();
    assert!(matches!(err, RuntimeError::UnknownModelPrice(ref m) if m == "mystery-model-7"));
    let message = err.to_string();
    assert!(
        message.contains("\"mystery-model-7\"")
            && message.contains("[pricing.\"mystery-model-7\"]"),
        "{message}"
    );
    assert_eq!(h.llm.requests().len(), 0);
    assert_eq!(h.events().len(), 0);
    assert_eq!(h.storage.list_jobs().unwrap().len(), 0);

    // A price from the config makes the same run possible.
    setting.prices.insert(
        "mystery-model",
        ModelPrice {
            input: 1.0,
            output: 1.0,
            cache_read: 1.0,
            cache_write: 1.0,
        },
    );
    let done = h.run(setting.clone()).await;
    assert_eq!(done.text.as_deref(), Some("Too late."));

    // A budget that is not a number of USD is refused as well.
    setting.max_total_cost = Some(f64::NAN);
    assert!(matches!(
        h.runtime.run(setting).await,
        Err(RuntimeError::InvalidInput(_))
    ));
}
