//! Where a tool host's own runtime events (`skillStarting`, `skillConnected`, `skillStderr`,
//! `skillDisconnected`, `skillLockMismatch`) go: the log and listener of the run that uses the
//! host right now.
//!
//! A host is opened once per Expert per execution and outlives the run that opened it (the
//! Expert runs again after a delegation, under a new run id), and its events come from its
//! own tasks at any time (a stderr line, a crash). So the host emits through a [`HostEvents`]
//! handle that the runtime points at each new run of the Expert before the run uses the host;
//! events after the Expert's last run (the disconnects of shutdown) go to that last run.
//! When several runs of one Expert use its host at once (parallel delegations to the same
//! Expert), its events go to the run that started last: nothing in a stderr line says which
//! call it belongs to.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use perstack_checkpoint::{EventLog, Storage};
use perstack_events::{Event, RuntimeEvent, RuntimeEventPayload};
use perstack_sandbox::Redactor;

use crate::listener::{EventListener, Sink};
use crate::redact::redact_event;

/// A run's event log, shared by the run's emitter and the hosts reporting to the run.
#[derive(Clone)]
pub(crate) struct RunLog {
    pub(crate) storage: Arc<Storage>,
    pub(crate) log: Arc<Mutex<EventLog>>,
}

/// The run that receives a host's events.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) job_id: String,
    pub(crate) run_id: String,
    pub(crate) log: Option<RunLog>,
    pub(crate) listener: Sink,
    /// Applied to every event before it is stored or seen by the listener.
    pub(crate) redactor: Arc<Redactor>,
}

/// Emits a tool host's runtime events into the run currently using the host: stored in that
/// run's hash-chained log (when the runtime stores), then handed to the listener, in one
/// order for both.
#[derive(Clone)]
pub struct HostEvents {
    target: Arc<Mutex<Target>>,
    /// Events held back until the first [`HostEvents::retarget`] (a host opened beside the
    /// run's own start, whose first event must not come before `initializeRuntime`).
    held: Arc<Mutex<Option<Vec<RuntimeEventPayload>>>>,
}

impl fmt::Debug for HostEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.target.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("HostEvents")
            .field("job_id", &t.job_id)
            .field("run_id", &t.run_id)
            .field("stored", &t.log.is_some())
            .finish()
    }
}

impl HostEvents {
    pub(crate) fn new(target: Target) -> Self {
        HostEvents {
            target: Arc::new(Mutex::new(target)),
            held: Arc::new(Mutex::new(None)),
        }
    }

    /// Events of run `run_id` of job `job_id`, held until the first
    /// [`HostEvents::retarget`] delivers them, in order, to the run's log and listener.
    pub(crate) fn held(job_id: &str, run_id: &str) -> Self {
        let events = HostEvents::new(Target {
            job_id: job_id.to_string(),
            run_id: run_id.to_string(),
            log: None,
            listener: Sink::Full(Arc::new(|_: &Event| {})),
            redactor: Arc::new(Redactor::new()),
        });
        *events.held.lock().unwrap_or_else(PoisonError::into_inner) = Some(Vec::new());
        events
    }

    /// Events emitted only to `listener`, stamped with `job_id` and `run_id` (embeddings and
    /// tests that open hosts outside a runtime); secret shapes are redacted.
    pub fn to_listener(job_id: &str, run_id: &str, listener: Arc<dyn EventListener>) -> Self {
        HostEvents::new(Target {
            job_id: job_id.to_string(),
            run_id: run_id.to_string(),
            log: None,
            listener: Sink::Full(listener),
            redactor: Arc::new(Redactor::new()),
        })
    }

    /// Sends later events, and any held back, to `target`.
    pub(crate) fn retarget(&self, target: Target) {
        // Under the hold's lock: an event emitted meanwhile waits, so none overtakes the
        // held ones.
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = target;
        for payload in held.take().unwrap_or_default() {
            self.deliver(payload);
        }
    }

    /// The id of the run that receives events now.
    pub fn run_id(&self) -> String {
        self.target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .run_id
            .clone()
    }

    /// Stores `payload` as a runtime event of the current run, then hands it to the listener.
    ///
    /// Called from the host's tasks, so the append runs inline: a buffered write without
    /// fsync (a runtime event carries no checkpoint), which may wait for a concurrent append
    /// of the same run. A storage failure cannot stop the host's task: it is logged and the
    /// listener still gets the event.
    pub fn emit(&self, payload: RuntimeEventPayload) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match held.as_mut() {
            Some(waiting) => waiting.push(payload),
            None => {
                drop(held);
                self.deliver(payload);
            }
        }
    }

    fn deliver(&self, payload: RuntimeEventPayload) {
        let target = self
            .target
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let event = Event::from(RuntimeEvent::new(&target.job_id, &target.run_id, payload));
        // An event that cannot be redacted is dropped: nothing unredacted may leave.
        let event = match redact_event(&target.redactor, event) {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(run_id = %target.run_id, "{e}");
                return;
            }
        };
        match &target.log {
            Some(run) => {
                let mut log = run.log.lock().unwrap_or_else(PoisonError::into_inner);
                match run.storage.append_event(&mut log, event.clone(), false) {
                    Ok(appended) => target.listener.plain(&appended.event),
                    Err(e) => {
                        tracing::error!(
                            run_id = %target.run_id,
                            error = %e,
                            "could not store a {} event",
                            event.type_name()
                        );
                        target.listener.plain(&event);
                    }
                }
            }
            None => target.listener.plain(&event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn disconnected(name: &str) -> RuntimeEventPayload {
        RuntimeEventPayload::SkillDisconnected {
            skill_name: name.to_string(),
        }
    }

    /// Each event as run id and payload.
    fn seen_as_json(seen: &Mutex<Vec<Event>>) -> Vec<serde_json::Value> {
        seen.lock()
            .unwrap()
            .iter()
            .map(|e| {
                let v = serde_json::to_value(e).unwrap();
                serde_json::json!({"runId": v["runId"], "skillName": v["skillName"]})
            })
            .collect()
    }

    #[test]
    fn held_events_reach_the_first_target_in_order_then_flow_live() {
        let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
        let events = HostEvents::held("j", "r1");
        events.emit(disconnected("a"));
        events.emit(disconnected("b"));
        assert!(seen.lock().unwrap().is_empty());
        let sink = Arc::clone(&seen);
        events.retarget(Target {
            job_id: "j".into(),
            run_id: "r1".into(),
            log: None,
            listener: Sink::Full(Arc::new(move |e: &Event| {
                sink.lock().unwrap().push(e.clone())
            })),
            redactor: Arc::new(Redactor::new()),
        });
        events.emit(disconnected("c"));
        let expected: Vec<serde_json::Value> = ["a", "b", "c"]
            .iter()
            .map(|n| serde_json::json!({"runId": "r1", "skillName": n}))
            .collect();
        assert_eq!(seen_as_json(&seen), expected);
    }
}
