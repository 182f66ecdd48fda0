//! Skills that do not start end the run with `stopRunByError` (`SkillStartError`) and a
//! checkpoint that resumes once they start: when the host cannot be opened, and when a skill
//! started in the background (lazyInit, locked) fails after the first listing. No model call
//! is made for the failed step.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use perstack_core::{CheckpointStatus, ToolCall};
use perstack_events::Event;
use perstack_runtime::{
    BoxFuture, HostRequest, RunInput, ToolEntry, ToolHost, ToolHostError, ToolHostFactory,
    ToolOutcome,
};
use pretty_assertions::assert_eq;
use support::Harness;
use support::host::TestHost;
use support::script::say;

const WHY: &str = "skill \"late\" failed to start: MCP handshake failed";

/// Fails to open while `fail_open` is set; its `fail_listing`-th listing (1-based) fails.
#[derive(Debug)]
struct Flaky {
    inner: Arc<TestHost>,
    fail_open: AtomicUsize,
    fail_listing: usize,
    listings: AtomicUsize,
}

impl ToolHost for Flaky {
    fn tools(&self) -> BoxFuture<'_, Result<Vec<ToolEntry>, ToolHostError>> {
        let n = self.listings.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_listing {
            return Box::pin(async { Err(ToolHostError::new(WHY)) });
        }
        self.inner.tools()
    }

    fn call(&self, call: ToolCall) -> BoxFuture<'_, ToolOutcome> {
        self.inner.call(call)
    }
}

struct Factory(Arc<Flaky>);

impl std::fmt::Debug for Factory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Factory")
    }
}

impl ToolHostFactory for Factory {
    fn open(&self, _: HostRequest) -> BoxFuture<'_, Result<Arc<dyn ToolHost>, ToolHostError>> {
        Box::pin(async move {
            if self.0.fail_open.load(Ordering::SeqCst) == 1 {
                return Err(ToolHostError::new(WHY));
            }
            Ok(Arc::clone(&self.0) as Arc<dyn ToolHost>)
        })
    }
}

fn run_types(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Run(r) => Some(r.payload.type_name().to_string()),
            Event::Runtime(_) | Event::Unknown(_) => None,
        })
        .collect()
}

async fn harness(fail_open: bool, fail_listing: usize) -> (Harness, Arc<Flaky>) {
    let h = Harness::new(vec![]).await;
    let flaky = Arc::new(Flaky {
        inner: h.host.clone(),
        fail_open: AtomicUsize::new(usize::from(fail_open)),
        fail_listing,
        listings: AtomicUsize::new(0),
    });
    let h = h.with_factory(Arc::new(Factory(Arc::clone(&flaky))));
    (h, flaky)
}

#[tokio::test]
async fn a_host_that_does_not_open_stops_the_run_and_the_job_resumes() {
    let (h, flaky) = harness(true, 0).await;
    let failed = h.run(h.setting("Find it")).await;
    assert_eq!(failed.status(), CheckpointStatus::StoppedByError);
    assert_eq!(run_types(&h.events()), vec!["startRun", "stopRunByError"]);
    let error = failed.checkpoint.error.clone().unwrap();
    assert_eq!(error.name, "SkillStartError");
    assert_eq!(
        error.message,
        format!(
            "expert \"main\": {WHY}. Fix the skill (its command, endpoint or server) and continue this job"
        )
    );
    assert!(h.llm.requests().is_empty());
    h.assert_stored(&failed);

    // Fixed: the job resumes from the checkpoint, with the query it kept.
    flaky.fail_open.store(0, Ordering::SeqCst);
    h.llm.route(support::MAIN, vec![say("Found.")]);
    let mut resume = h.setting("");
    resume.job_id = failed.job.id.clone();
    resume.checkpoint = Some(failed.checkpoint.clone());
    resume.input = RunInput::default();
    let done = h.run(resume).await;
    assert_eq!(done.status(), CheckpointStatus::Completed);
    assert_eq!(h.llm.requests().len(), 1);
    assert!(h.llm.requests()[0].to_string().contains("Find it"));
}

#[tokio::test]
async fn a_skill_failing_in_the_background_stops_the_run_before_the_generation() {
    // Listing 1: the run's start (the skill still starting); listing 2: before generating.
    let (h, _flaky) = harness(false, 2).await;
    let failed = h.run(h.setting("Find it")).await;
    assert_eq!(failed.status(), CheckpointStatus::StoppedByError);
    assert_eq!(
        run_types(&h.events()),
        vec!["startRun", "startGeneration", "stopRunByError"]
    );
    assert_eq!(
        failed.checkpoint.error.clone().unwrap().name,
        "SkillStartError"
    );
    assert!(h.llm.requests().is_empty());
    h.assert_stored(&failed);
}
