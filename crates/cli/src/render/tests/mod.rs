//! Transcripts of event sequences built by hand: every kind of stop, delegation, retries,
//! streaming, colour and determinism.

mod builder;
mod exit_hints;

use builder::{Job, call, cp, result, said, step, usage};
use perstack_core::{
    Checkpoint, CheckpointError, CheckpointStatus, Message, Step, TextPart, Usage,
};
use perstack_events::{RunEventPayload, RuntimeEventPayload};
use pretty_assertions::assert_eq;
use serde_json::json;

use super::Style;

fn stopped(
    payload: impl FnOnce(Checkpoint, Step) -> RunEventPayload,
    status: CheckpointStatus,
) -> String {
    let mut j = Job::default();
    j.fresh("r1", "writer", "Summarise notes.md", None);
    j.read_step("r1", "writer", 1);
    j.ev(
        "r1",
        "writer",
        1,
        payload(cp("r1", "writer", status, 1), step(1)),
    );
    j.render(Style::PLAIN, false)
}

#[test]
fn error_stop() {
    let out = stopped(
        |checkpoint, step| RunEventPayload::StopRunByError {
            checkpoint,
            step,
            error: CheckpointError {
                name: "ProviderError".into(),
                message: "401 Unauthorized: invalid x-api-key".into(),
                status_code: Some(401),
                is_retryable: false,
            },
        },
        CheckpointStatus::StoppedByError,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn an_auth_error_names_the_key_variable_and_does_not_suggest_retrying() {
    let out = stopped(
        |checkpoint, step| RunEventPayload::StopRunByError {
            checkpoint,
            step,
            error: CheckpointError {
                name: "APICallError".into(),
                message: "openai: HTTP 401 (invalid_api_key): Incorrect API key provided".into(),
                status_code: Some(401),
                is_retryable: false,
            },
        },
        CheckpointStatus::StoppedByError,
    );
    let hints: Vec<&str> = out.lines().filter(|l| l.starts_with("  ")).collect();
    pretty_assertions::assert_eq!(
        hints,
        vec![
            "  ✗ readTextFile: {\"error\":\"NotFound\",\"message\":\"notes.md does not exist\"}",
            "  step 1 · 1,200 in / 80 out tokens · 1.2s",
            "  details: perstack log --job job1 --errors",
            "  fix: the provider refused the key: set a valid OPENAI_API_KEY (environment or \
             env file); the same key fails the same way",
            "  then resume: perstack start --continue-job job1 writer \"\"",
        ]
    );
}

#[test]
fn error_stop_hints_repeat_the_config_and_workspace_given() {
    let mut j = Job::default();
    j.fresh("r1", "writer", "Summarise notes.md", None);
    j.read_step("r1", "writer", 1);
    j.ev(
        "r1",
        "writer",
        1,
        RunEventPayload::StopRunByError {
            checkpoint: cp("r1", "writer", CheckpointStatus::StoppedByError, 1),
            step: step(1),
            error: CheckpointError {
                name: "ProviderError".into(),
                message: "overloaded".into(),
                status_code: Some(529),
                is_retryable: true,
            },
        },
    );
    let invocation = super::Invocation::new(
        Some(std::path::Path::new("team configs/perstack.toml")),
        Some(std::path::Path::new("/srv/ws")),
    );
    insta::assert_snapshot!(j.render_for(Style::PLAIN, false, invocation));
}

#[test]
fn max_steps_stop() {
    let out = stopped(
        |checkpoint, step| RunEventPayload::StopRunByExceededMaxSteps { checkpoint, step },
        CheckpointStatus::StoppedByExceededMaxSteps,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn token_budget_stop() {
    let out = stopped(
        |checkpoint, step| RunEventPayload::StopRunByBudget {
            checkpoint,
            step,
            reason: "maxTotalTokens 1000 reached: 1280 tokens used".into(),
            budget: Some(perstack_events::BudgetExceeded::Tokens {
                limit: 1000,
                used: 1280,
            }),
        },
        CheckpointStatus::StoppedByBudget,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn wall_clock_budget_stop() {
    let out = stopped(
        |checkpoint, step| RunEventPayload::StopRunByBudget {
            checkpoint,
            step,
            reason: "maxDuration 60000 ms reached".into(),
            budget: None,
        },
        CheckpointStatus::StoppedByBudget,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn cost_budget_stop() {
    let out = stopped(
        |checkpoint, step| RunEventPayload::StopRunByBudget {
            checkpoint,
            step,
            reason:
                "maxTotalCost $0.5 reached: $0.5120 spent (estimated at claude-sonnet-4-5's price)"
                    .into(),
            budget: Some(perstack_events::BudgetExceeded::Cost {
                limit: 0.5,
                used: 0.512,
                model: "claude-sonnet-4-5".into(),
            }),
        },
        CheckpointStatus::StoppedByBudget,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn signal_stop() {
    let out = stopped(
        |checkpoint, step| RunEventPayload::StopRunBySignal {
            checkpoint,
            step,
            signal: "SIGINT".into(),
        },
        CheckpointStatus::StoppedBySignal,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn approval_stop_names_every_waiting_call() {
    let calls = vec![
        call(
            "c1",
            "shell",
            "exec",
            json!({"command": "rm -rf build", "cwd": "."}),
        ),
        call("c2", "shell", "exec", json!({"command": "make"})),
    ];
    let out = stopped(
        move |mut checkpoint, step| {
            checkpoint.pending_tool_calls = Some(calls.clone());
            RunEventPayload::StopRunByApproval {
                checkpoint,
                step,
                tool_calls: calls,
            }
        },
        CheckpointStatus::StoppedByApproval,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn interactive_stop_then_resume() {
    let mut j = Job::default();
    j.fresh("r1", "asker", "Pick a colour", None);
    let ask = call(
        "c1",
        "ui",
        "askUser",
        json!({"question": "Which colour?\nRed or blue?"}),
    );
    j.ev(
        "r1",
        "asker",
        1,
        RunEventPayload::CallTools {
            new_message: said("m1", "I need to ask.", None),
            tool_calls: vec![ask.clone()],
            usage: usage(1200, 80),
        },
    );
    j.ev(
        "r1",
        "asker",
        1,
        RunEventPayload::CallInteractiveTool {
            new_message: said("m1", "I need to ask.", None),
            tool_call: ask.clone(),
            usage: usage(1200, 80),
        },
    );
    let mut stop = cp("r1", "asker", CheckpointStatus::StoppedByInteractiveTool, 1);
    stop.pending_tool_calls = Some(vec![ask]);
    j.ev(
        "r1",
        "asker",
        1,
        RunEventPayload::StopRunByInteractiveTool {
            checkpoint: stop.clone(),
            step: step(1),
        },
    );
    j.init("r2", "asker", None, Some(("c1", "blue")));
    j.ev(
        "r2",
        "asker",
        2,
        RunEventPayload::StartRun {
            initial_checkpoint: stop,
            input_messages: Vec::new(),
        },
    );
    j.ev(
        "r2",
        "asker",
        2,
        RunEventPayload::FinishAllToolCalls {
            new_messages: vec![Message::ToolMessage {
                id: "tm".into(),
                contents: vec![perstack_core::ToolResultPart {
                    id: "trp".into(),
                    tool_call_id: "c1".into(),
                    tool_name: "askUser".into(),
                    contents: vec![perstack_core::message::ToolResultContent::Text(TextPart {
                        id: "x".into(),
                        text: "blue".into(),
                    })],
                    is_error: None,
                }],
                cache: None,
            }],
        },
    );
    j.ev(
        "r2",
        "asker",
        3,
        RunEventPayload::StartGeneration {
            messages: Vec::new(),
        },
    );
    j.ev(
        "r2",
        "asker",
        3,
        RunEventPayload::CompleteRun {
            checkpoint: cp("r2", "asker", CheckpointStatus::Completed, 3),
            step: step(3),
            text: "Blue it is.".into(),
            usage: usage(1200, 80),
        },
    );
    insta::assert_snapshot!(j.render(Style::PLAIN, false));
}

/// A coordinator delegates; the delegate retries once, streams its reasoning and result;
/// the coordinator continues with the result. Skill lines appear only when verbose.
fn delegation() -> Job {
    let mut j = Job::default();
    j.fresh("p1", "lead", "Find the answer", None);
    j.skill(
        "p1",
        RuntimeEventPayload::SkillStderr {
            skill_name: "@perstack/base".into(),
            message: "ready\n".into(),
        },
    );
    let d = call("d1", "helper", "helper", json!({"query": "What is 6 x 7?"}));
    for payload in [
        RunEventPayload::CallTools {
            new_message: said("m1", "Asking the helper.", None),
            tool_calls: vec![d.clone()],
            usage: usage(1200, 80),
        },
        RunEventPayload::CallDelegate {
            new_message: said("m1", "Asking the helper.", None),
            tool_calls: vec![d],
            usage: usage(1200, 80),
        },
        RunEventPayload::StopRunByDelegate {
            checkpoint: cp("p1", "lead", CheckpointStatus::StoppedByDelegate, 1),
            step: step(1),
        },
    ] {
        j.ev("p1", "lead", 1, payload);
    }
    j.fresh("h1", "helper", "What is 6 x 7?", Some(("p1", "lead")));
    j.ev(
        "h1",
        "helper",
        1,
        RunEventPayload::Retry {
            reason: "provider overloaded (529)".into(),
            new_messages: Vec::new(),
            tool_calls: None,
            tool_results: None,
            usage: Usage::default(),
        },
    );
    j.ev(
        "h1",
        "helper",
        1,
        RunEventPayload::StartStreamingReasoning {},
    );
    for delta in ["Six times seven", "\nis forty-two."] {
        j.ev(
            "h1",
            "helper",
            1,
            RunEventPayload::StreamReasoning {
                delta: delta.into(),
            },
        );
    }
    j.ev(
        "h1",
        "helper",
        1,
        RunEventPayload::CompleteStreamingReasoning {
            text: "Six times seven\nis forty-two.".into(),
        },
    );
    j.ev(
        "h1",
        "helper",
        1,
        RunEventPayload::StartStreamingRunResult {},
    );
    for delta in ["The answer ", "is 42."] {
        j.ev(
            "h1",
            "helper",
            1,
            RunEventPayload::StreamRunResult {
                delta: delta.into(),
            },
        );
    }
    j.ev(
        "h1",
        "helper",
        1,
        RunEventPayload::CompleteStreamingRunResult {
            text: "The answer is 42.".into(),
        },
    );
    j.ev(
        "h1",
        "helper",
        1,
        RunEventPayload::CompleteRun {
            checkpoint: cp("h1", "helper", CheckpointStatus::Completed, 1),
            step: step(1),
            text: "The answer is 42.".into(),
            usage: usage(1200, 80),
        },
    );
    j.init("p2", "lead", None, Some(("d1", "The answer is 42.")));
    j.ev(
        "p2",
        "lead",
        2,
        RunEventPayload::StartRun {
            initial_checkpoint: cp("p2", "lead", CheckpointStatus::StoppedByDelegate, 2),
            input_messages: Vec::new(),
        },
    );
    j.ev(
        "p2",
        "lead",
        2,
        RunEventPayload::ResolveToolResults {
            tool_results: vec![result("d1", "helper", "The answer is 42.")],
        },
    );
    j.ev(
        "p2",
        "lead",
        3,
        RunEventPayload::CompleteRun {
            checkpoint: cp("p2", "lead", CheckpointStatus::Completed, 3),
            step: step(3),
            text: "It is 42.".into(),
            usage: usage(1200, 80),
        },
    );
    j
}

#[test]
fn delegation_is_indented_with_retries_and_streaming() {
    insta::assert_snapshot!(delegation().render(Style::PLAIN, false));
}

#[test]
fn verbose_adds_skill_lines() {
    let out = delegation().render(Style::PLAIN, true);
    assert!(out.contains("[skill @perstack/base] ready\n"), "{out}");
    assert!(!delegation().render(Style::PLAIN, false).contains("[skill"));
}

#[test]
fn colour_only_when_asked_and_the_text_is_the_same() {
    let plain = delegation().render(Style::PLAIN, false);
    let coloured = delegation().render(Style::COLOR, false);
    assert!(!plain.contains('\x1b'));
    assert!(coloured.contains("\x1b[32m✔ lead completed"), "{coloured}");
    let stripped = strip_ansi(&coloured);
    assert_eq!(stripped, plain);
}

#[test]
fn rendering_is_deterministic() {
    let j = delegation();
    assert_eq!(j.render(Style::PLAIN, false), j.render(Style::PLAIN, false));
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
