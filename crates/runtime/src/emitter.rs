//! Emission of a run's events in Perstack's order of side effects: the checkpoint an event
//! carries is stored first, then the job record, then the event is appended to the run's
//! hash-chained log, then the listener sees it.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use perstack_checkpoint::{EventLog, Storage};
use perstack_core::{Job, Step};
use perstack_events::RuntimeEventPayload;
use perstack_events::{Event, RunEvent, RunEventMeta, RunEventPayload, RuntimeEvent};

use crate::error::RuntimeError;
use crate::listener::EventListener;

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

    /// Applies `f` to the job and stores it.
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
}

/// The event sink of one run.
pub(crate) struct Emitter {
    meta: RunEventMeta,
    storage: Option<Arc<Storage>>,
    log: Option<EventLog>,
    listener: Arc<dyn EventListener>,
    job: JobTracker,
    /// The job's usage follows this run's checkpoints (false for parallel delegates, whose
    /// usage is added to the parent's when they return).
    owns_job_usage: bool,
}

impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("meta", &self.meta)
            .field("storage", &self.storage.is_some())
            .finish_non_exhaustive()
    }
}

impl Emitter {
    /// A sink for run `run_id` of `expert_key`; opens the run's event log when storing.
    pub(crate) fn open(
        job_id: &str,
        run_id: &str,
        expert_key: &str,
        storage: Option<Arc<Storage>>,
        listener: Arc<dyn EventListener>,
        job: JobTracker,
        owns_job_usage: bool,
    ) -> Result<Self, RuntimeError> {
        let log = match &storage {
            Some(s) => Some(s.open_event_log(job_id, run_id)?),
            None => None,
        };
        Ok(Emitter {
            meta: RunEventMeta {
                job_id: job_id.to_string(),
                run_id: run_id.to_string(),
                expert_key: expert_key.to_string(),
                step_number: 0,
            },
            storage,
            log,
            listener,
            job,
            owns_job_usage,
        })
    }

    /// Emits a run event stamped with `step_number`.
    pub(crate) fn emit(
        &mut self,
        step_number: u32,
        payload: RunEventPayload,
    ) -> Result<(), RuntimeError> {
        let carries_checkpoint = payload.checkpoint().is_some();
        if let Some(storage) = &self.storage {
            // Perstack stores the end-of-step checkpoint of `continueToNextStep`; the next
            // step's is what resuming needs. Both are kept (messages are stored once).
            if let RunEventPayload::ContinueToNextStep { checkpoint, .. } = &payload {
                storage.store_checkpoint(checkpoint)?;
            }
            if let Some(cp) = payload.checkpoint() {
                storage.store_checkpoint(cp)?;
            }
        }
        if let Some(cp) = payload.checkpoint() {
            let (step, usage) = (cp.step_number, cp.usage);
            let owns_usage = self.owns_job_usage;
            self.job.update(self.storage.as_deref(), |job| {
                job.total_steps = job.total_steps.max(step);
                if owns_usage {
                    job.usage = usage;
                }
            })?;
        }
        self.meta.step_number = step_number;
        let event = Event::from(RunEvent::new(&self.meta, payload));
        if let Some(log) = &mut self.log {
            log.append(&event, carries_checkpoint)?;
        }
        self.listener.on_event(&event);
        Ok(())
    }

    /// Emits a runtime event (also kept in the run's log, for tracing a run to its build).
    pub(crate) fn emit_runtime(
        &mut self,
        payload: RuntimeEventPayload,
    ) -> Result<(), RuntimeError> {
        let event = Event::from(RuntimeEvent::new(
            &self.meta.job_id,
            &self.meta.run_id,
            payload,
        ));
        if let Some(log) = &mut self.log {
            log.append(&event, false)?;
        }
        self.listener.on_event(&event);
        Ok(())
    }
}

/// `step` with its end time set.
pub(crate) fn finished(step: &Step) -> Step {
    let mut s = step.clone();
    s.finished_at = Some(perstack_core::now_ms());
    s
}
