//! `perstack run` when a skill asks the user during a tool call (MCP elicitation): the run
//! stops for the application like an interactive tool (exit 3, `stopRunByInteractiveTool`
//! whose checkpoint carries the question in `metadata.elicitation`), and `--continue -i`
//! / `--continue-job J -i` with the answer as the query runs the call again: the server
//! gets the answer (defaults filled) and the model gets the tool's real result. The skill
//! is our rmcp test server, whose `ask` tool asks for a name (default "Ada") and an age.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod support;

use perstack_testkit::{ScriptedLlm, Turn};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use support::{Endpoint, Setup, config_with_skill, job_id};

fn setup(llm: &ScriptedLlm) -> (Setup, Endpoint) {
    let s = Setup::new();
    let server = perstack_testkit::mcp_test_server();
    s.write_config(&config_with_skill(
        "test",
        &format!(
            "type = \"mcpStdioSkill\"\ncommand = \"{}\"\nargs = []\npick = [\"ask\"]",
            server.display()
        ),
    ));
    (s, Endpoint::openai(&llm.base_url))
}

fn script(last: &str) -> ScriptedLlm {
    ScriptedLlm::start(vec![Turn::call("ask", json!({})), Turn::text(last)]).unwrap()
}

/// Runs until the server asks and checks the stop; the job id.
fn stop(s: &Setup, endpoint: &Endpoint) -> String {
    let f = s.run(endpoint, &[], "Who am I?");
    assert_eq!(f.code(), Some(3), "stderr: {}\n{:?}", f.stderr, f.types());
    let stop = f
        .events
        .iter()
        .rfind(|e| e["type"] == "stopRunByInteractiveTool")
        .expect("stopRunByInteractiveTool");
    let checkpoint = &stop["checkpoint"];
    assert_eq!(checkpoint["status"], "stoppedByInteractiveTool");
    let call = &checkpoint["pendingToolCalls"][0];
    assert_eq!(
        (&call["skillName"], &call["toolName"]),
        (&json!("test"), &json!("ask"))
    );
    let asked = &checkpoint["metadata"]["elicitation"];
    assert_eq!(asked["toolCallId"], call["id"]);
    assert_eq!(asked["skillName"], "test");
    assert_eq!(asked["pending"]["message"], "Who are you?");
    assert_eq!(
        asked["pending"]["requestedSchema"]["properties"]["name"]["default"],
        "Ada"
    );
    job_id(&f.events)
}

/// The content of the last tool message the model was sent, as JSON.
fn tool_result_sent(llm: &ScriptedLlm) -> Value {
    let last = llm.requests().last().cloned().unwrap();
    let message = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|m| m["role"] == "tool")
        .cloned()
        .unwrap();
    serde_json::from_str(message["content"].as_str().unwrap()).unwrap()
}

#[test]
fn a_skill_asking_stops_the_run_and_continue_i_answers_it() {
    let llm = script("You are Ada, 41.");
    let (s, endpoint) = setup(&llm);
    let job = stop(&s, &endpoint);
    // Not an object, `decline` or `cancel`: refused before anything runs.
    let bad = s.run(&endpoint, &["--continue", "-i"], "Ada");
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("JSON object"), "{}", bad.stderr);
    let done = s.run(&endpoint, &["--continue", "-i"], r#"{"age": 41}"#);
    assert_eq!(done.code(), Some(0), "stderr: {}", done.stderr);
    assert_eq!(
        tool_result_sent(&llm),
        json!({"action": "accept", "content": {"age": 41, "name": "Ada"}})
    );
    assert_eq!(job_id(&done.events), job);
    s.assert_verified(&job);
}

#[test]
fn decline_reaches_the_server_as_declined() {
    let llm = script("You would rather not say.");
    let (s, endpoint) = setup(&llm);
    let job = stop(&s, &endpoint);
    let done = s.run(&endpoint, &["--continue-job", &job, "-i"], "decline");
    assert_eq!(done.code(), Some(0), "stderr: {}", done.stderr);
    assert_eq!(tool_result_sent(&llm), json!({"action": "decline"}));
}

#[test]
fn start_asks_the_question_on_stderr_and_resumes_with_the_answer_line() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let llm = script("You are Ada, 41.");
    let (s, endpoint) = setup(&llm);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perstack"));
    cmd.arg("start")
        .arg("--config")
        .arg(s.config_path())
        .arg("--workspace")
        .arg(s.ws())
        .args(["--provider", &endpoint.provider, "--model", &endpoint.model])
        .args(["worker", "Who am I?"])
        .env_remove("PERSTACK_LOG")
        .envs(endpoint.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // The first line has no form: asked again.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Ada\n{\"age\": 41}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = support::text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.contains("test asks: Who are you?"), "{stderr}");
    assert_eq!(
        tool_result_sent(&llm),
        json!({"action": "accept", "content": {"age": 41, "name": "Ada"}})
    );
}
