//! Emission of a run's events in Perstack's order of side effects: the checkpoint an event
//! carries is stored first, then the job record, then the event is appended to the run's
//! hash-chained log, then the listener sees it.
//!
//! Storage does blocking file I/O (fsync included), so it runs on tokio's blocking pool; each
//! emission awaits its storage work before the listener sees the event, which keeps the order
//! of side effects (and with it crash safety) exactly as if it ran inline. The listener is
//! called while the run's log is still locked, so the events a tool host adds to the same log
//! ([`crate::HostEvents`]) reach the listener in the order they are stored.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use perstack_checkpoint::{EventLog, Storage};
use perstack_core::{Job, Step};
use perstack_events::RuntimeEventPayload;
use perstack_events::{Event, RunEvent, RunEventMeta, RunEventPayload, RuntimeEvent};
use perstack_sandbox::Redactor;

use crate::error::RuntimeError;
use crate::host_events::{RunLog, Target};
use crate::listener::EventListener;
use crate::redact::redact_event;

/// Runs blocking storage work off the async executor; a panic in it propagates as if the
/// work had run inline.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RuntimeError> + Send + 'static,
) -> Result<T, RuntimeError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => Err(RuntimeError::StorageCancelled),
        },
    }
}

/// The job record shared by every run of an execution (delegates included).
#[derive(Debug, Clone)]
pub(crate) struct JobTracker {
    job: Arc<Mutex<Job>>,
}

impl JobTracker {
    pub(crate) fn new(job: Job) -> Self {
        JobTracker {
            job: Arc::new(Mutex::new(job)),
        }
    }

    /// Applies `f` to the job and stores it (blocking: call from blocking code).
    pub(crate) fn update(
        &self,
        storage: Option<&Storage>,
        f: impl FnOnce(&mut Job),
    ) -> Result<Job, RuntimeError> {
        let mut job = self.job.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut job);
        if let Some(s) = storage {
            s.store_job(&job)?;
        }
        Ok(job.clone())
    }

    /// [`JobTracker::update`] from async code: the store runs on the blocking pool.
    pub(crate) async fn update_async(
        &self,
        storage: Option<&Arc<Storage>>,
        f: impl FnOnce(&mut Job) + Send + 'static,
    ) -> Result<Job, RuntimeError> {
        match storage {
            None => self.update(None, f),
            Some(s) => {
                let (s, tracker) = (Arc::clone(s), self.clone());
                blocking(move || tracker.update(Some(&s), f)).await
            }
        }
    }
}

/// The event sink of one run.
pub(crate) struct Emitter {
    meta: RunEventMeta,
    sink: Option<RunLog>,
    listener: Arc<dyn EventListener>,
    /// Applied to every event before it is stored or seen by the listener.
    redactor: Arc<Redactor>,
    job: JobTracker,
    /// The job's usage follows this run's checkpoints (false for parallel delegates, whose
    /// usage is added to the parent's when they return).
    owns_job_usage: bool,
}

impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("meta", &self.meta)
            .field("storage", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

/// Redacts `event`, stores what it carries, appends it to the log and hands it to
/// `listener` before the log is unlocked (blocking).
fn persist(
    sink: Option<(&Storage, &Mutex<EventLog>)>,
    job: &JobTracker,
    owns_job_usage: bool,
    event: Event,
    listener: &dyn EventListener,
    redactor: &Redactor,
) -> Result<(), RuntimeError> {
    let event = redact_event(redactor, event)?;
    let storage = sink.map(|(s, _)| s);
    let mut durable = false;
    if let Event::Run(run) = &event {
        let payload = &run.payload;
        if let Some(s) = storage {
            // Perstack stores the end-of-step checkpoint of `continueToNextStep`; the next
            // step's is what resuming needs. Both are kept (messages are stored once).
            if let RunEventPayload::ContinueToNextStep { checkpoint, .. } = payload {
                s.store_checkpoint(checkpoint)?;
            }
            if let Some(cp) = payload.checkpoint() {
                s.store_checkpoint(cp)?;
            }
        }
        if let Some(cp) = payload.checkpoint() {
            let (step, usage) = (cp.step_number, cp.usage);
            job.update(storage, |job| {
                job.total_steps = job.total_steps.max(step);
                if owns_job_usage {
                    job.usage = usage;
                }
            })?;
            durable = true;
        }
    }
    match sink {
        Some((s, log)) => {
            let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
            let event = s.append_event(&mut log, event, durable)?.event;
            listener.on_event(&event);
        }
        None => listener.on_event(&event),
    }
    Ok(())
}

impl Emitter {
    /// A sink for run `run_id` of `expert_key`; opens the run's event log when storing.
    pub(crate) async fn open(
        job_id: &str,
        run_id: &str,
        expert_key: &str,
        storage: Option<Arc<Storage>>,
        listener: Arc<dyn EventListener>,
        job: JobTracker,
        owns_job_usage: bool,
    ) -> Result<Self, RuntimeError> {
        let sink = match storage {
            Some(storage) => {
                let (s, j, r) = (Arc::clone(&storage), job_id.to_string(), run_id.to_string());
                let log = blocking(move || Ok(s.open_event_log(&j, &r)?)).await?;
                Some(RunLog {
                    storage,
                    log: Arc::new(Mutex::new(log)),
                })
            }
            None => None,
        };
        Ok(Emitter {
            meta: RunEventMeta {
                job_id: job_id.to_string(),
                run_id: run_id.to_string(),
                expert_key: expert_key.to_string(),
                step_number: 0,
            },
            sink,
            listener,
            redactor: Arc::new(Redactor::new()),
            job,
            owns_job_usage,
        })
    }

    /// Redacts every event with `redactor` (without it: secret shapes only).
    pub(crate) fn redacting(mut self, redactor: Arc<Redactor>) -> Self {
        self.redactor = redactor;
        self
    }

    /// Stores `event` (off the executor when there is storage), then hands it to the listener.
    async fn deliver(&mut self, event: Event) -> Result<(), RuntimeError> {
        let (job, owns) = (self.job.clone(), self.owns_job_usage);
        let listener = Arc::clone(&self.listener);
        let redactor = Arc::clone(&self.redactor);
        match &self.sink {
            Some(sink) => {
                let (s, log) = (Arc::clone(&sink.storage), Arc::clone(&sink.log));
                blocking(move || {
                    persist(Some((&*s, &*log)), &job, owns, event, &*listener, &redactor)
                })
                .await
            }
            None => persist(None, &job, owns, event, &*listener, &redactor),
        }
    }

    /// Where the runtime events of the tool hosts this run uses go: this run's log and
    /// listener.
    pub(crate) fn host_target(&self) -> Target {
        Target {
            job_id: self.meta.job_id.clone(),
            run_id: self.meta.run_id.clone(),
            log: self.sink.clone(),
            listener: Arc::clone(&self.listener),
            redactor: Arc::clone(&self.redactor),
        }
    }

    /// Emits a run event stamped with `step_number`.
    pub(crate) async fn emit(
        &mut self,
        step_number: u32,
        payload: RunEventPayload,
    ) -> Result<(), RuntimeError> {
        self.meta.step_number = step_number;
        let event = Event::from(RunEvent::new(&self.meta, payload));
        self.deliver(event).await
    }

    /// Emits a runtime event (also kept in the run's log, for tracing a run to its build).
    pub(crate) async fn emit_runtime(
        &mut self,
        payload: RuntimeEventPayload,
    ) -> Result<(), RuntimeError> {
        let event = Event::from(RuntimeEvent::new(
            &self.meta.job_id,
            &self.meta.run_id,
            payload,
        ));
        self.deliver(event).await
    }
}

/// `step` with its end time set.
pub(crate) fn finished(step: &Step) -> Step {
    let mut s = step.clone();
    s.finished_at = Some(perstack_core::now_ms());
    s
}
