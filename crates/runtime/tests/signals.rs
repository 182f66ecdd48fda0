//! Stop signals: the run stops at once with a resumable `stoppedBySignal` checkpoint, and
//! resuming from it finishes the work that was cut off.

mod support;

use std::time::Duration;

use perstack_core::CheckpointStatus;
use perstack_runtime::{RunInput, StopSignal};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::Harness;
use support::script::{call, say};
use support::server::Reply;

#[tokio::test]
async fn stop_mid_tool_then_resume() {
    let h = Harness::new(vec![
        call("c1", "block", json!({})),
        say("Unblocked and done."),
    ])
    .await;
    let setting = h.setting("Run the long tool");
    let stop = StopSignal::new();
    let run = h.runtime.run_with_stop(setting.clone(), stop.clone());
    let fire = async {
        h.host.blocking().await;
        stop.stop("SIGTERM");
    };
    let (stopped, ()) = tokio::join!(run, fire);
    let stopped = stopped.unwrap();
    assert_eq!(stopped.status(), CheckpointStatus::StoppedBySignal);
    assert_eq!(stopped.exit_code(), 143);
    let pending = stopped.checkpoint.pending_tool_calls.clone().unwrap();
    assert_eq!(pending[0].id, "c1");
    h.assert_stored(&stopped);

    let mut resume = setting;
    resume.run_id = perstack_core::id::new_id();
    resume.input = RunInput::default();
    resume.checkpoint = Some(
        h.storage
            .load_checkpoint(&stopped.job.id, &stopped.checkpoint.id)
            .unwrap(),
    );
    let done = h.run(resume).await;
    assert_eq!(done.text.as_deref(), Some("Unblocked and done."));
    insta::assert_snapshot!(h.outline());
    h.assert_stored(&done);
}

#[tokio::test]
async fn stop_mid_generation_then_resume() {
    let h = Harness::new(vec![Reply::Hang, say("Hello again.")]).await;
    let setting = h.setting("Hello");
    let stop = StopSignal::new();
    let run = h.runtime.run_with_stop(setting.clone(), stop.clone());
    let fire = async {
        // Wait (without a deadline) until the generation request is at the server.
        while h.llm.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.stop("SIGINT");
    };
    let (stopped, ()) = tokio::join!(run, fire);
    let stopped = stopped.unwrap();
    assert_eq!(stopped.status(), CheckpointStatus::StoppedBySignal);
    assert_eq!(stopped.checkpoint.pending_tool_calls, None);

    let mut resume = setting;
    resume.run_id = perstack_core::id::new_id();
    resume.input = RunInput::default();
    resume.checkpoint = Some(stopped.checkpoint.clone());
    let done = h.run(resume).await;
    assert_eq!(done.text.as_deref(), Some("Hello again."));
    insta::assert_snapshot!(h.outline());
}
