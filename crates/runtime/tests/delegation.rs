//! Delegation: single and parallel, results returned to the parent as tool results, usage
//! summed, step numbers continued, a failing delegate answered with an error result.

mod support;

use perstack_core::CheckpointStatus;
use pretty_assertions::assert_eq;
use serde_json::json;
use support::outline::{blocks, outline_runs};
use support::script::{Turn, call, say};
use support::server::Reply;
use support::{HELPER, Harness, MAIN, OTHER};

#[tokio::test]
async fn single_delegation_returns_the_result_to_the_parent() {
    let h = Harness::new(vec![]).await;
    h.llm.route(
        MAIN,
        vec![
            call("d1", "helper", json!({"query": "Find the answer"})),
            say("The helper says 42."),
        ],
    );
    h.llm.route(HELPER, vec![say("42")]);
    let outcome = h.run(h.setting("Ask the helper")).await;
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    assert_eq!(outcome.text.as_deref(), Some("The helper says 42."));
    // Three generations of 15 tokens: parent, delegate, parent.
    assert_eq!(outcome.checkpoint.usage.total_tokens, 45);
    assert_eq!(outcome.job.usage.total_tokens, 45);
    insta::assert_snapshot!(blocks(outline_runs(&h.events())));
    h.assert_stored(&outcome);
    // Parent, delegate and resumed parent are three runs; read back as one job they merge
    // into the order they were emitted in.
    let job_events = h.storage.read_job_events(&outcome.job.id).unwrap();
    assert_eq!(job_events, h.events());
}

#[tokio::test]
async fn parallel_delegation_runs_delegates_concurrently() {
    let h = Harness::new(vec![]).await;
    h.llm.route(
        MAIN,
        vec![
            Turn::new()
                .tool("d1", "helper", json!({"query": "Part one"}))
                .tool("e1", "echo", json!({"text": "meanwhile"}))
                .tool("d2", "other", json!({"query": "Part two"}))
                .reply(),
            say("Both parts done."),
        ],
    );
    // Each delegate calls the rendezvous tool: it answers "met" only if both delegates
    // are running at the same time.
    h.llm
        .route(HELPER, vec![call("m1", "meet", json!({})), say("one: met")]);
    h.llm
        .route(OTHER, vec![call("m2", "meet", json!({})), say("two: met")]);
    let outcome = h.run(h.setting("Do both parts")).await;
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    assert_eq!(outcome.checkpoint.usage.total_tokens, 90);
    let mut runs = outline_runs(&h.events());
    assert_eq!(runs.len(), 4);
    // The delegates' events interleave in any order; show them by Expert.
    runs[1..3].sort();
    insta::assert_snapshot!(blocks(runs));
    h.assert_stored(&outcome);
    let meets: Vec<_> = h
        .host
        .calls()
        .into_iter()
        .filter(|c| c.tool_name == "meet")
        .collect();
    assert_eq!(meets.len(), 2);
}

#[tokio::test]
async fn failing_delegate_gives_the_parent_an_error_result() {
    let h = Harness::new(vec![]).await;
    h.llm.route(
        MAIN,
        vec![
            call("d1", "helper", json!({"query": "Try"})),
            say("The helper failed."),
        ],
    );
    h.llm
        .route(HELPER, vec![Reply::bad_request("helper model missing")]);
    let outcome = h.run(h.setting("Ask the helper")).await;
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    insta::assert_snapshot!(blocks(outline_runs(&h.events())));
    // The parent's model sees the failure as an error tool result.
    let last = h.llm.requests().pop().unwrap();
    let result = &last["messages"][2]["content"][0];
    assert_eq!(result["tool_use_id"], json!("d1"));
    assert_eq!(result["is_error"], json!(true));
}

#[tokio::test]
async fn delegation_without_query_is_an_error_result() {
    let h = Harness::new(vec![
        call("d1", "helper", json!({})),
        say("I forgot the query."),
    ])
    .await;
    let outcome = h.run(h.setting("Ask the helper")).await;
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    insta::assert_snapshot!(h.outline());
}
