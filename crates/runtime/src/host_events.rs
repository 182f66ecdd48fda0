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
        }
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

    /// Sends later events to `target`.
    pub(crate) fn retarget(&self, target: Target) {
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = target;
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
