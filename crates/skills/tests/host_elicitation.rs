//! Elicitation: our rmcp test server's `ask` tool asks the user for a name (default "Ada")
//! and an age during the call. The host answers through `HostOptions::elicitation`, filling
//! in the schema's defaults; without a handler it declares no elicitation capability.

// Test code: panicking helpers are fine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use common::*;
use perstack_skills::host::{
    CallOutcome, ElicitationAnswer, ElicitationHandler, HostOptions, KnownAnswer, SkillHost,
};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// Answers every request with `answer` and records what it was asked.
struct Scripted {
    answer: ElicitationAnswer,
    asked: Mutex<Vec<(String, Value)>>,
}

impl ElicitationHandler for Scripted {
    fn elicit(
        &self,
        skill: &str,
        request: Value,
    ) -> Pin<Box<dyn Future<Output = ElicitationAnswer> + Send>> {
        self.asked
            .lock()
            .unwrap()
            .push((skill.to_string(), request));
        let answer = self.answer.clone();
        Box::pin(async move { answer })
    }
}

async fn ask(options: HostOptions) -> String {
    let (sink, _events) = events();
    let expert = expert_with(vec![("test", test_server_skill(&[]))]);
    let host = SkillHost::start(&expert, &no_experts(), options, sink)
        .await
        .unwrap();
    let CallOutcome::Result(out) = host.call("1", "ask", args(json!({}))).await else {
        panic!("ask is an MCP tool");
    };
    host.shutdown().await;
    assert!(!out.is_error, "{:?}", out.result);
    texts(&out.result).join("\n")
}

fn with_handler(ws: &Ws, answer: ElicitationAnswer) -> (HostOptions, Arc<Scripted>) {
    let handler = Arc::new(Scripted {
        answer,
        asked: Mutex::new(Vec::new()),
    });
    let mut opts = options(ws);
    opts.elicitation = Some(handler.clone());
    (opts, handler)
}

#[tokio::test]
async fn an_accepted_answer_gets_the_schema_defaults_for_what_it_leaves_out() {
    let ws = workspace();
    let given = json!({"age": 41}).as_object().cloned().unwrap();
    let (opts, handler) = with_handler(&ws, ElicitationAnswer::Accept(given));
    let answer: Value = serde_json::from_str(&ask(opts).await).unwrap();
    assert_eq!(
        answer,
        json!({"action": "accept", "content": {"age": 41, "name": "Ada"}})
    );
    let asked = handler.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].0, "test");
    assert_eq!(asked[0].1["message"], "Who are you?");
    assert_eq!(
        asked[0].1["requestedSchema"]["properties"]["name"]["default"],
        "Ada"
    );
}

#[tokio::test]
async fn a_declined_or_cancelled_answer_reaches_the_server_as_such() {
    let ws = workspace();
    let (opts, _) = with_handler(&ws, ElicitationAnswer::Decline);
    let answer: Value = serde_json::from_str(&ask(opts).await).unwrap();
    assert_eq!(answer, json!({"action": "decline"}));
    let (opts, _) = with_handler(&ws, ElicitationAnswer::Cancel);
    let answer: Value = serde_json::from_str(&ask(opts).await).unwrap();
    assert_eq!(answer, json!({"action": "cancel"}));
}

#[tokio::test]
async fn without_a_handler_no_elicitation_capability_is_declared() {
    let ws = workspace();
    assert_eq!(
        ask(options(&ws)).await,
        "the client declared no elicitation"
    );
}

/// The `ask` tool's request, as the application gets it back.
fn ask_request() -> (String, Value) {
    let schema = json!({
        "type": "object",
        "properties": {"name": {"type": "string", "default": "Ada"}, "age": {"type": "integer"}}
    });
    ("Who are you?".to_string(), schema)
}

#[tokio::test]
async fn in_stop_mode_an_elicitation_stops_the_call_and_a_known_answer_runs_it() {
    let ws = workspace();
    let mut opts = options(&ws);
    opts.elicitation_stops = true;
    let (sink, _events) = events();
    let expert = expert_with(vec![("test", test_server_skill(&[]))]);
    let host = SkillHost::start(&expert, &no_experts(), opts, sink)
        .await
        .unwrap();
    let CallOutcome::Elicitation(request) = host.call("1", "ask", args(json!({}))).await else {
        panic!("ask elicits: the call stops");
    };
    let (message, schema) = ask_request();
    assert_eq!(request["message"], json!(message));
    assert_eq!(request["requestedSchema"], schema);
    // The session still serves calls after the abandoned one.
    let known = |answer| {
        vec![KnownAnswer {
            message: message.clone(),
            requested_schema: schema.clone(),
            answer,
        }]
    };
    let given = json!({"age": 41}).as_object().cloned().unwrap();
    let outcome = host
        .call_answering(
            "2",
            "ask",
            args(json!({})),
            known(ElicitationAnswer::Accept(given)),
        )
        .await;
    let out = outcome.into_output().expect("answered: the tool ran");
    let answer: Value = serde_json::from_str(&texts(&out.result).join("\n")).unwrap();
    assert_eq!(
        answer,
        json!({"action": "accept", "content": {"age": 41, "name": "Ada"}})
    );
    let out = host
        .call_answering(
            "3",
            "ask",
            args(json!({})),
            known(ElicitationAnswer::Decline),
        )
        .await
        .into_output()
        .expect("answered: the tool ran");
    assert_eq!(texts(&out.result).join("\n"), r#"{"action":"decline"}"#);
    // An answer to another question does not answer this one: the call stops again.
    let other = vec![KnownAnswer {
        message: "Where are you?".into(),
        requested_schema: schema.clone(),
        answer: ElicitationAnswer::Decline,
    }];
    let outcome = host
        .call_answering("4", "ask", args(json!({})), other)
        .await;
    assert!(
        matches!(outcome, CallOutcome::Elicitation(_)),
        "{outcome:?}"
    );
    host.shutdown().await;
}
