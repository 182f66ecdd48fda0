//! A tool host's own runtime events (skill lifecycle, stderr) are stored in the log of the
//! run using the host at the time, in emission order, hash chain intact; an Expert that runs
//! again after a delegation gets them in its new run.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::sync::{Arc, Mutex};

use perstack_core::{CheckpointStatus, ToolCall};
use perstack_events::{Event, RuntimeEventPayload};
use perstack_runtime::{
    BoxFuture, HostEvents, HostRequest, ToolEntry, ToolHost, ToolHostError, ToolHostFactory,
    ToolOutcome,
};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::Harness;
use support::host::TestHost;
use support::script::{call, say};

/// Hosts that report like the skill host: starting and connected when opened, a stderr line
/// per call, disconnected when shut down.
#[derive(Debug)]
struct ReportingFactory {
    inner: Arc<TestHost>,
    opened: Mutex<Vec<(String, HostEvents)>>,
}

#[derive(Debug)]
struct ReportingHost {
    inner: Arc<TestHost>,
    expert: String,
    events: HostEvents,
}

impl ToolHost for ReportingHost {
    fn tools(&self) -> BoxFuture<'_, Result<Vec<ToolEntry>, ToolHostError>> {
        self.inner.tools()
    }

    fn call(&self, call: ToolCall) -> BoxFuture<'_, ToolOutcome> {
        self.events.emit(RuntimeEventPayload::SkillStderr {
            skill_name: format!("{}-skill", self.expert),
            message: format!("calling {}", call.tool_name),
        });
        self.inner.call(call)
    }
}

impl ToolHostFactory for ReportingFactory {
    fn open(
        &self,
        request: HostRequest,
    ) -> BoxFuture<'_, Result<Arc<dyn ToolHost>, ToolHostError>> {
        Box::pin(async move {
            let skill_name = format!("{}-skill", request.expert_key);
            assert_eq!(request.events.run_id(), request.run_id);
            request.events.emit(RuntimeEventPayload::SkillStarting {
                skill_name: skill_name.clone(),
                command: "server".into(),
                args: vec![],
            });
            request.events.emit(RuntimeEventPayload::SkillConnected {
                skill_name,
                server_info: None,
                connect_duration_ms: None,
                handshake_duration_ms: None,
                spawn_duration_ms: None,
                tool_discovery_duration_ms: None,
                total_duration_ms: None,
            });
            self.opened
                .lock()
                .unwrap()
                .push((request.expert_key.clone(), request.events.clone()));
            Ok(Arc::new(ReportingHost {
                inner: Arc::clone(&self.inner),
                expert: request.expert_key,
                events: request.events,
            }) as Arc<dyn ToolHost>)
        })
    }
}

impl ReportingFactory {
    fn shutdown(&self) {
        for (expert, events) in self.opened.lock().unwrap().drain(..) {
            events.emit(RuntimeEventPayload::SkillDisconnected {
                skill_name: format!("{expert}-skill"),
            });
        }
    }
}

/// `(runId, type, skillName)` of every skill event, in emission order.
fn skill_events(events: &[Event]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Runtime(r) => {
                let v = serde_json::to_value(&r.payload).unwrap();
                let skill = v.get("skillName")?.as_str()?.to_string();
                Some((r.run_id.clone(), r.payload.type_name().to_string(), skill))
            }
            Event::Run(_) | Event::Unknown(_) => None,
        })
        .collect()
}

#[tokio::test]
async fn skill_events_are_stored_in_the_run_that_uses_the_host() {
    let h = Harness::new(vec![]).await;
    let factory = Arc::new(ReportingFactory {
        inner: h.host.clone(),
        opened: Mutex::new(Vec::new()),
    });
    let h = h.with_factory(factory.clone());
    h.llm.route(
        support::MAIN,
        vec![
            call("d1", "helper", json!({"query": "Find it"})),
            call("e1", "echo", json!({"text": "after"})),
            say("Done."),
        ],
    );
    h.llm.route(
        support::HELPER,
        vec![call("e2", "echo", json!({"text": "x"})), say("42")],
    );
    let outcome = h.run(h.setting("Go")).await;
    assert_eq!(outcome.status(), CheckpointStatus::Completed);
    factory.shutdown();
    let events = h.events();
    // Runs in order: main, helper, main again (a new run id after the delegation).
    let mut runs: Vec<String> = Vec::new();
    for e in &events {
        if !runs.iter().any(|r| r == e.run_id()) {
            runs.push(e.run_id().to_string());
        }
    }
    assert_eq!(runs.len(), 3, "{runs:?}");
    let (main1, helper, main2) = (&runs[0], &runs[1], &runs[2]);
    let t = |run: &String, ty: &str, skill: &str| (run.clone(), ty.to_string(), skill.to_string());
    assert_eq!(
        skill_events(&events),
        vec![
            t(main1, "skillStarting", "main-skill"),
            t(main1, "skillConnected", "main-skill"),
            t(helper, "skillStarting", "helper-skill"),
            t(helper, "skillConnected", "helper-skill"),
            t(helper, "skillStderr", "helper-skill"),
            t(main2, "skillStderr", "main-skill"),
            // Shutdown after the job: each host reports to its Expert's last run.
            t(main2, "skillDisconnected", "main-skill"),
            t(helper, "skillDisconnected", "helper-skill"),
        ]
    );
    // Every run's log verifies and holds exactly what was emitted, skill events included.
    h.assert_stored(&outcome);
    let stored = h.storage.read_run_events(&outcome.job.id, helper).unwrap();
    assert_eq!(stored.last().unwrap().type_name(), "skillDisconnected");
}
