//! What `start` prints at the end: the command to go on (with `perstack start`), once, only
//! when the process is about to exit; and a retry as one readable line.

use perstack_core::{CheckpointStatus, Usage};
use perstack_events::RunEventPayload;
use pretty_assertions::assert_eq;

use super::super::{Renderer, Style};
use super::builder::{Job, cp, step};

fn signal_stopped() -> Job {
    let mut j = Job::default();
    j.fresh("r1", "writer", "Summarise notes.md", None);
    j.read_step("r1", "writer", 1);
    j.ev(
        "r1",
        "writer",
        1,
        RunEventPayload::StopRunBySignal {
            checkpoint: cp("r1", "writer", CheckpointStatus::StoppedBySignal, 1),
            step: step(1),
            signal: "SIGINT".into(),
        },
    );
    j
}

#[test]
fn the_resume_command_says_perstack_start_and_comes_once_at_exit() {
    let j = signal_stopped();
    let mut r = Renderer::new(Style::PLAIN, false);
    let live: String = j.events.iter().map(|e| r.render(e)).collect();
    assert!(
        !live.contains("perstack "),
        "no command before exit: {live}"
    );
    let end = r.finish();
    assert_eq!(
        end,
        "  resume: perstack start --continue-job job1 writer \"\"\n"
    );
    assert_eq!(r.finish(), "", "printed once");
}

#[test]
fn a_retry_with_a_json_error_body_is_one_readable_line() {
    let mut j = Job::default();
    j.fresh("r1", "writer", "Summarise notes.md", None);
    j.ev(
        "r1",
        "writer",
        1,
        RunEventPayload::Retry {
            reason: "provider error (529): {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\n\"message\":\"Overloaded\"}}".into(),
            new_messages: Vec::new(),
            tool_calls: None,
            tool_results: None,
            usage: Usage::default(),
        },
    );
    let out = j.render(Style::PLAIN, false);
    let retries: Vec<&str> = out.lines().filter(|l| l.contains("retry")).collect();
    assert_eq!(retries, ["↺ retry: provider error (529): Overloaded"]);
}
