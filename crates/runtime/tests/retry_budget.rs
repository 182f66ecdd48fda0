//! One retry budget for a whole request: the provider's transparent retries and the
//! runtime's own share `maxRetries`, and retried steps do not consume `max_steps`.

mod support;

use perstack_core::CheckpointStatus;
use pretty_assertions::assert_eq;
use support::script::say;
use support::server::Reply;
use support::{Harness, Options};

#[tokio::test]
async fn provider_and_runtime_retries_share_one_budget() {
    let h = Harness::with(
        vec![Reply::overloaded(); 9],
        Options {
            provider_retries: 2,
            ..Options::default()
        },
    )
    .await;
    let outcome = h.run(h.setting("Hello")).await;
    assert_eq!(outcome.status(), CheckpointStatus::StoppedByError);
    // Provider × runtime would be 3 × 3 = 9 attempts; one budget of 2 is 3 attempts.
    assert_eq!(h.llm.remaining(), 6, "one attempt and two retries in all");
    let message = outcome
        .checkpoint
        .error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default();
    assert_eq!(
        message,
        "anthropic: HTTP 529 (overloaded_error): Overloaded (gave up after 2 retries: \
         maxRetries is 2; raise it in perstack.toml or try again later)"
    );
    // The provider retried inside one generation: no step was consumed by it.
    assert_eq!(outcome.checkpoint.step_number, 1);
    h.assert_stored(&outcome);
}

#[tokio::test]
async fn retried_steps_do_not_consume_max_steps() {
    let h = Harness::new(vec![Reply::overloaded(), Reply::overloaded(), say("Done.")]).await;
    let mut setting = h.setting("Hello");
    setting.max_steps = Some(1);
    let outcome = h.run(setting).await;
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    assert_eq!(outcome.text.as_deref(), Some("Done."));
}
