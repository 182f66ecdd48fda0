//! Emission of a run's events in Perstack's order of side effects: the checkpoint an event
//! carries is stored first, then the job record, then the event is appended to the run's
//! hash-chained log, then the listener sees it.
//!
//! The machine hands over run events without their conversation (the `messages` of
//! `startGeneration` and of every checkpoint) together with the messages that are new since
//! the last event. Each new message is redacted once and joins the run's emitted
//! conversation; storage and a listener of Perstack's events get the conversation lent into
//! the event's slots (copied only where one event holds it twice), a compact listener gets
//! references. So the per-event work follows what the event adds, not the run's history.
//!
//! Storage does blocking file I/O (fsync included), so it runs on tokio's blocking pool; each
//! emission awaits its storage work before the listener sees the event, which keeps the order
//! of side effects (and with it crash safety) exactly as if it ran inline. The listener is
//! called while the run's log is still locked, so the events a tool host adds to the same log
//! ([`crate::HostEvents`]) reach the listener in the order they are stored.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use perstack_checkpoint::{EventLog, Storage};
use perstack_core::{Job, Message, Step};
use perstack_events::compact::{CompactRunEvent, Conversation, ConversationUpdate};
use perstack_events::{
    CompactEvent, Event, RunEvent, RunEventMeta, RunEventPayload, RuntimeEvent, RuntimeEventPayload,
};
use perstack_sandbox::Redactor;

use crate::error::RuntimeError;
use crate::host_events::{RunLog, Target};
use crate::listener::Sink;
use crate::redact::{redact_event, redact_message};

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
    listener: Sink,
    /// Applied to every event before it is stored or seen by the listener.
    redactor: Arc<Redactor>,
    job: JobTracker,
    /// The job's usage follows this run's checkpoints (false for parallel delegates, whose
    /// usage is added to the parent's when they return).
    owns_job_usage: bool,
    /// The run's conversation as emitted (redacted), shared with the blocking storage work.
    conversation: Arc<Mutex<Conversation>>,
    /// How many messages of the machine's conversation have been handed over.
    seen: usize,
}

impl fmt::Debug for Emitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("meta", &self.meta)
            .field("storage", &self.sink.is_some())
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// One event on its way out: a run event's conversations are left empty and come from the
/// run's emitted conversation once `new_messages` (unredacted) have joined it.
struct Delivery {
    event: Event,
    new_messages: Vec<Message>,
    /// The conversation was rewritten (shorter than what was emitted): start it anew.
    restart: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Redacts `delivery`, stores what it carries, appends it to the log and hands it to
/// `listener` before the log is unlocked (blocking).
fn persist(
    sink: Option<(&Storage, &Mutex<EventLog>)>,
    job: &JobTracker,
    owns_job_usage: bool,
    delivery: Delivery,
    conversation: &Mutex<Conversation>,
    listener: &Sink,
    redactor: &Redactor,
) -> Result<(), RuntimeError> {
    let event = redact_event(redactor, delivery.event)?;
    let new = (delivery.new_messages.into_iter())
        .map(|m| redact_message(redactor, m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut conv = lock(conversation);
    let update = if delivery.restart {
        *conv = Conversation::new();
        Some(conv.append(new).unwrap_or(ConversationUpdate {
            from: 0,
            messages: Vec::new(),
        }))
    } else {
        conv.append(new)
    };
    let Event::Run(run) = event else {
        // Runtime events carry no conversation.
        match sink {
            Some((s, log)) => {
                let mut log = lock(log);
                let event = s.append_event(&mut log, event, false)?.event;
                listener.plain(&event);
            }
            None => listener.plain(&event),
        }
        return Ok(());
    };
    let mut run = *run;
    // `startRun`'s initial checkpoint holds less than the conversation: it gets its own
    // copy (once per run); every other conversation slot is the conversation, lent.
    let own = matches!(run.payload, RunEventPayload::StartRun { .. });
    if own {
        fill(&mut run.payload, &mut conv);
    }
    let storage = sink.map(|(s, _)| s);
    let mut durable = false;
    if let Some(s) = storage {
        let store = |cp: &perstack_core::Checkpoint| match own {
            true => s.store_checkpoint(cp),
            false => s.store_checkpoint_lent(cp, conv.messages()),
        };
        // Perstack stores the end-of-step checkpoint of `continueToNextStep`; the next
        // step's is what resuming needs. Both are kept (messages are stored once).
        if let RunEventPayload::ContinueToNextStep { checkpoint, .. } = &run.payload {
            store(checkpoint)?;
        }
        if let Some(cp) = run.payload.checkpoint() {
            store(cp)?;
        }
    }
    if let Some(cp) = run.payload.checkpoint() {
        let (step, usage) = (cp.step_number, cp.usage);
        job.update(storage, |job| {
            job.total_steps = job.total_steps.max(step);
            if owns_job_usage {
                job.usage = usage;
            }
        })?;
        // startRun's checkpoint is the input, not a step: it (and the job's and run's
        // creation, owed until then) becomes durable with the first step's sync, so the
        // first LLM request waits for no disk (docs/storage.md, "Crash safety").
        durable = !own;
    }
    let event = Event::from(run);
    match sink {
        Some((s, log)) => {
            let mut log = lock(log);
            let event = match own {
                true => s.append_event(&mut log, event, durable)?.event,
                false => (s.append_event_lent(&mut log, event, durable, conv.messages())?).event,
            };
            hand_over(listener, event, update, &mut conv, own);
        }
        None => hand_over(listener, event, update, &mut conv, own),
    }
    Ok(())
}

/// Puts the emitted conversation into the payload's empty conversation slots: lent (moved,
/// not copied) into the first, copied into a second; `startRun`'s initial checkpoint gets
/// the messages before the input messages (copied, once per run). True when lent.
fn fill(payload: &mut RunEventPayload, conv: &mut Conversation) -> bool {
    if let RunEventPayload::StartRun {
        initial_checkpoint,
        input_messages,
    } = payload
    {
        let count = conv.len().saturating_sub(input_messages.len());
        initial_checkpoint.messages = conv.messages().get(..count).unwrap_or_default().to_vec();
        return false;
    }
    let mut slots = payload.conversations_mut();
    let Some((first, rest)) = slots.split_first_mut() else {
        return false;
    };
    **first = conv.take_messages();
    for slot in rest {
        **slot = first.clone();
    }
    true
}

/// Hands a stored event to the listener: Perstack's form with the conversation put in
/// (lent for the call, unless `filled` already), or the compact form.
fn hand_over(
    listener: &Sink,
    event: Event,
    update: Option<ConversationUpdate>,
    conv: &mut Conversation,
    filled: bool,
) {
    let Event::Run(mut run) = event else {
        listener.plain(&event);
        return;
    };
    match listener {
        Sink::Full(l) => {
            let lent = !filled && fill(&mut run.payload, conv);
            let event = Event::Run(run);
            l.on_event(&event);
            if lent
                && let Event::Run(mut run) = event
                && let Some(first) = run.payload.conversations_mut().into_iter().next()
            {
                conv.put_back(std::mem::take(first));
            }
        }
        Sink::Compact(l) => {
            let RunEvent {
                id,
                timestamp,
                job_id,
                run_id,
                expert_key,
                step_number,
                payload,
            } = *run;
            let compact = CompactRunEvent {
                id,
                timestamp,
                job_id,
                run_id,
                expert_key,
                step_number,
                conversation: update,
                payload: conv.encode(payload),
            };
            l.on_compact_event(&CompactEvent::Run(Box::new(compact)));
        }
    }
}

impl Emitter {
    /// A sink for run `run_id` of `expert_key`; opens the run's event log when storing.
    pub(crate) async fn open(
        job_id: &str,
        run_id: &str,
        expert_key: &str,
        storage: Option<Arc<Storage>>,
        listener: Sink,
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
            conversation: Arc::new(Mutex::new(Conversation::new())),
            seen: 0,
        })
    }

    /// Redacts every event with `redactor` (without it: secret shapes only).
    pub(crate) fn redacting(mut self, redactor: Arc<Redactor>) -> Self {
        self.redactor = redactor;
        self
    }

    /// Stores `delivery` (off the executor when there is storage), then hands it to the
    /// listener.
    async fn deliver(&mut self, delivery: Delivery) -> Result<(), RuntimeError> {
        let (job, owns) = (self.job.clone(), self.owns_job_usage);
        let listener = self.listener.clone();
        let redactor = Arc::clone(&self.redactor);
        let conv = Arc::clone(&self.conversation);
        match &self.sink {
            Some(sink) => {
                let (s, log) = (Arc::clone(&sink.storage), Arc::clone(&sink.log));
                blocking(move || {
                    let sink = Some((&*s, &*log));
                    persist(sink, &job, owns, delivery, &conv, &listener, &redactor)
                })
                .await
            }
            None => persist(None, &job, owns, delivery, &conv, &listener, &redactor),
        }
    }

    /// Where the runtime events of the tool hosts this run uses go: this run's log and
    /// listener.
    pub(crate) fn host_target(&self) -> Target {
        Target {
            job_id: self.meta.job_id.clone(),
            run_id: self.meta.run_id.clone(),
            log: self.sink.clone(),
            listener: self.listener.clone(),
            redactor: Arc::clone(&self.redactor),
        }
    }

    /// Emits a run event that carries no conversation (the streaming events), stamped with
    /// `step_number`.
    pub(crate) async fn emit(
        &mut self,
        step_number: u32,
        payload: RunEventPayload,
    ) -> Result<(), RuntimeError> {
        self.emit_in(step_number, payload, None).await
    }

    /// Emits a run event stamped with `step_number`. `conversation` is the machine's
    /// conversation now: the event's empty conversation slots hold it (`startRun`'s initial
    /// checkpoint all of it but the input messages), and what is new in it since the last
    /// event joins the emitted conversation first.
    pub(crate) async fn emit_in(
        &mut self,
        step_number: u32,
        payload: RunEventPayload,
        conversation: Option<&[Message]>,
    ) -> Result<(), RuntimeError> {
        self.meta.step_number = step_number;
        let (new_messages, restart) = match conversation {
            Some(c) if c.len() < self.seen => (c.to_vec(), true),
            Some(c) => (c.get(self.seen..).unwrap_or_default().to_vec(), false),
            None => (Vec::new(), false),
        };
        if let Some(c) = conversation {
            self.seen = c.len();
        }
        let event = Event::from(RunEvent::new(&self.meta, payload));
        self.deliver(Delivery {
            event,
            new_messages,
            restart,
        })
        .await
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
        self.deliver(Delivery {
            event,
            new_messages: Vec::new(),
            restart: false,
        })
        .await
    }
}

/// `step` with its end time set.
pub(crate) fn finished(step: &Step) -> Step {
    let mut s = step.clone();
    s.finished_at = Some(perstack_core::now_ms());
    s
}
