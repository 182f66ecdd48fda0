//! [`Runtime`]: runs an Expert to a stop, delegates included, keeping the job record.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use perstack_checkpoint::Storage;
use perstack_core::{Checkpoint, CheckpointStatus, ExpertRef, Job, JobStatus, Usage, id::new_id};
use perstack_events::{
    ConfinementSummary, EVENT_SCHEMA_VERSION, InteractiveToolCallInfo, RuntimeEventPayload,
};
use perstack_providers::Provider;
use perstack_sandbox::Redactor;
use tokio::sync::Mutex;

use crate::delegation::{Delegated, Ended};
use crate::emitter::{Emitter, JobTracker, blocking};
use crate::error::RuntimeError;
use crate::host_events::HostEvents;
use crate::listener::{CompactEventListener, EventListener, Sink};
use crate::machine::Machine;
use crate::outcome::RunOutcome;
use crate::setting::RunSetting;
use crate::stop::{StopCause, StopSignal};
use crate::tools::{
    BoxFuture, HostRequest, ToolHost, ToolHostError, ToolHostFactory, UnstartedHost,
};

/// Runs Experts: one provider, one source of tools, optional storage, one event listener.
///
/// Cheap to share: many executions may run concurrently on one `Runtime`.
#[derive(Clone)]
pub struct Runtime {
    provider: Arc<dyn Provider>,
    tools: Arc<dyn ToolHostFactory>,
    pub(crate) storage: Option<Arc<Storage>>,
    listener: Sink,
    redactor: Arc<Redactor>,
    confinement_probe: Option<Arc<ConfinementProbe>>,
}

/// A confinement report still being probed when the runtime starts, for `initializeRuntime`.
struct ConfinementProbe {
    pending: std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<ConfinementSummary>>>,
    done: tokio::sync::OnceCell<Option<ConfinementSummary>>,
}

impl ConfinementProbe {
    /// The report, waiting for the probe the first time (`None` if the prober went away).
    async fn report(&self) -> Option<ConfinementSummary> {
        self.done
            .get_or_init(|| async {
                let rx = self
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                match rx {
                    Some(rx) => rx.await.ok(),
                    None => None,
                }
            })
            .await
            .clone()
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("provider", &self.provider)
            .field("tools", &self.tools)
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

/// Tool hosts opened during one execution, one per Expert, with the handle that points each
/// host's own events at the Expert's current run.
pub(crate) type Hosts = Arc<Mutex<HostMap>>;

/// Each Expert's open tool host with the handle of its events.
pub(crate) type HostMap = HashMap<String, (Arc<dyn ToolHost>, HostEvents)>;

impl Runtime {
    /// A runtime without storage whose events go nowhere.
    pub fn new(provider: Arc<dyn Provider>, tools: Arc<dyn ToolHostFactory>) -> Self {
        Runtime {
            provider,
            tools,
            storage: None,
            listener: Sink::Full(Arc::new(|_: &perstack_events::Event| {})),
            redactor: Arc::new(Redactor::new()),
            confinement_probe: None,
        }
    }

    /// Takes `initializeRuntime`'s confinement report from a probe still running (when the
    /// setting's trace has none): it is awaited only when that event is built, so the probe
    /// runs beside the job's creation instead of before the run starts.
    pub fn with_confinement_probe(
        mut self,
        probe: tokio::sync::oneshot::Receiver<ConfinementSummary>,
    ) -> Self {
        self.confinement_probe = Some(Arc::new(ConfinementProbe {
            pending: std::sync::Mutex::new(Some(probe)),
            done: tokio::sync::OnceCell::new(),
        }));
        self
    }

    /// Stores jobs, checkpoints and event logs in `storage`.
    pub fn with_storage(mut self, storage: Arc<Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Sends every event to `listener`, in Perstack's form (the default).
    pub fn with_listener(mut self, listener: Arc<dyn EventListener>) -> Self {
        self.listener = Sink::Full(listener);
        self
    }

    /// Sends every event to `listener` in the compact form instead (`--events compact`):
    /// each message once, checkpoints and steps by reference, and per-event work that
    /// follows what the event adds rather than the run's history. Replaces
    /// [`Runtime::with_listener`]'s listener.
    pub fn with_compact_listener(mut self, listener: Arc<dyn CompactEventListener>) -> Self {
        self.listener = Sink::Compact(listener);
        self
    }

    /// Redacts every event with `redactor` before it is stored (checkpoints, messages, the
    /// event log) or handed to the listener. Without one, secret shapes are still redacted;
    /// give it every credential value the embedding holds.
    pub fn with_redactor(mut self, redactor: Arc<Redactor>) -> Self {
        self.redactor = redactor;
        self
    }

    /// Runs `setting` until the run completes or stops, delegations included.
    ///
    /// A delegate that stops for the application (interactive tool, approval) stops the job
    /// with its checkpoint; resuming from that checkpoint (needs storage) continues the
    /// delegate and returns its result through its parents, which continue.
    ///
    /// Model and tool failures end the run with a `stoppedByError` checkpoint (an `Ok`
    /// outcome); `Err` means the run could not be carried out (unknown Expert, missing input,
    /// storage failure).
    pub async fn run(&self, setting: RunSetting) -> Result<RunOutcome, RuntimeError> {
        self.run_with_stop(setting, StopSignal::new()).await
    }

    /// Like [`Runtime::run`], stopping with a resumable `stoppedBySignal` checkpoint when
    /// `stop` fires. Delegates stopped this way report it to their parent as their result;
    /// the parent then stops too.
    pub async fn run_with_stop(
        &self,
        mut setting: RunSetting,
        stop: StopSignal,
    ) -> Result<RunOutcome, RuntimeError> {
        // A delegate's checkpoint (a stop for the application inside a delegation) resumes
        // that delegate, whichever Expert the caller named.
        let resumes_delegate = match &setting.checkpoint {
            Some(cp) if cp.delegated_by.is_some() => {
                setting.expert_key = cp.expert.key.clone();
                true
            }
            Some(_) | None => false,
        };
        if !setting.experts.contains_key(&setting.expert_key) {
            return Err(RuntimeError::UnknownExpert(setting.expert_key.clone()));
        }
        // A budget that cannot be enforced is refused before anything runs.
        setting.cost_budget_price()?;
        let storage = self.storage.as_ref();
        let existing = match storage {
            Some(s) => {
                let (s, job_id) = (Arc::clone(s), setting.job_id.clone());
                blocking(move || {
                    Ok(if s.layout().job_file(&job_id)?.exists() {
                        Some(s.load_job(&job_id)?)
                    } else {
                        None
                    })
                })
                .await?
            }
            None => None,
        };
        let job = existing.unwrap_or_else(|| Job {
            id: setting.job_id.clone(),
            status: JobStatus::Running,
            coordinator_expert_key: setting.expert_key.clone(),
            total_steps: 0,
            max_steps: setting.max_steps,
            usage: Usage::default(),
            started_at: setting.started_at,
            finished_at: None,
        });
        let tracker = JobTracker::new(job);
        tracker
            .update_async(storage, |j| {
                j.status = JobStatus::Running;
                j.finished_at = None;
            })
            .await?;
        let hosts: Hosts = Arc::default();
        // The caller's signal may be shared by several executions; the wall clock is ours.
        let inner = StopSignal::new();
        let watchers = Watchers(vec![
            tokio::spawn({
                let (outer, inner) = (stop.clone(), inner.clone());
                async move { inner.fire(outer.wait().await) }
            }),
            tokio::spawn({
                let (limit, inner) = (setting.max_duration, inner.clone());
                async move {
                    if let Some(limit) = limit {
                        tokio::time::sleep(limit).await;
                        inner.fire(StopCause::WallClock(limit));
                    }
                }
            }),
        ]);
        let ended = if resumes_delegate {
            self.run_resumed_delegate(setting, &tracker, &hosts, &inner)
                .await
        } else {
            self.run_expert(setting, &tracker, &hosts, &inner).await
        };
        drop(watchers);
        // A job waiting on a delegate reports the delegate's checkpoint and the whole job's
        // usage and steps so far.
        let (checkpoint, text, usage, steps) = match ended? {
            Ended::Stopped { checkpoint, text } => {
                let (usage, steps) = (checkpoint.usage, checkpoint.step_number);
                (checkpoint, text, usage, steps)
            }
            Ended::Waiting(w) => (w.checkpoint, None, w.usage, w.step_number),
        };
        let status = checkpoint.status;
        let job = tracker
            .update_async(storage, move |j| {
                j.status = JobStatus::from(status);
                j.usage = usage;
                j.total_steps = j.total_steps.max(steps);
                if matches!(
                    status,
                    CheckpointStatus::Completed
                        | CheckpointStatus::StoppedByExceededMaxSteps
                        | CheckpointStatus::StoppedByError
                ) {
                    j.finished_at = Some(perstack_core::now_ms());
                }
            })
            .await?;
        Ok(RunOutcome {
            checkpoint,
            job,
            text,
        })
    }

    /// Runs an Expert, serving its delegations, until it stops for good or a delegate
    /// waits for the application.
    pub(crate) fn run_expert<'a>(
        &'a self,
        mut setting: RunSetting,
        tracker: &'a JobTracker,
        hosts: &'a Hosts,
        stop: &'a StopSignal,
    ) -> BoxFuture<'a, Result<Ended, RuntimeError>> {
        Box::pin(async move {
            loop {
                let (checkpoint, text) = self.run_once(&setting, tracker, hosts, stop).await?;
                if checkpoint.status != CheckpointStatus::StoppedByDelegate {
                    return Ok(Ended::Stopped { checkpoint, text });
                }
                let delegated = self
                    .delegate(setting, checkpoint, Vec::new(), tracker, hosts, stop)
                    .await?;
                setting = match delegated {
                    Delegated::Next(next) => *next,
                    Delegated::Waiting(w) => return Ok(Ended::Waiting(*w)),
                };
            }
        })
    }

    /// One run: from the setting's checkpoint (or a fresh one) to the machine's stop.
    async fn run_once(
        &self,
        setting: &RunSetting,
        tracker: &JobTracker,
        hosts: &Hosts,
        stop: &StopSignal,
    ) -> Result<(Checkpoint, Option<String>), RuntimeError> {
        let key = &setting.expert_key;
        // The job's usage follows the coordinator's checkpoints; a delegate's usage is added
        // to its parent's when it returns.
        let owns_job_usage = setting
            .checkpoint
            .as_ref()
            .is_none_or(|c| c.delegated_by.is_none());
        let expert = setting
            .experts
            .get(key)
            .ok_or_else(|| RuntimeError::UnknownExpert(key.clone()))?;
        // The Expert's tools start beside the run's own start (its log, `initializeRuntime`):
        // a new host's events are held until that event is out, then flow live.
        let (host_events, slot) = self.host_slot(setting, hosts).await;
        let (emitter, opened) = tokio::join!(
            async {
                let mut emitter = Emitter::open(
                    &setting.job_id,
                    &setting.run_id,
                    key,
                    self.storage.clone(),
                    self.listener.clone(),
                    tracker.clone(),
                    owns_job_usage,
                )
                .await?
                .redacting(Arc::clone(&self.redactor));
                let mut init = initialize_event(setting, expert.version_or_default());
                if let (RuntimeEventPayload::InitializeRuntime { confinement, .. }, Some(probe)) =
                    (&mut init, &self.confinement_probe)
                    && confinement.is_none()
                {
                    *confinement = probe.report().await;
                }
                emitter.emit_runtime(init).await?;
                host_events.retarget(emitter.host_target());
                Ok::<_, RuntimeError>(emitter)
            },
            self.open_host(setting, slot, &host_events)
        );
        let emitter = emitter?;
        let opened = match opened {
            Ok(host) => host.tools().await.map(|tools| (host, tools)),
            Err(e) => Err(e),
        };
        // Skills that fail to start end the run with `stopRunByError` after `startRun`, so
        // the checkpoint holds the query and the job resumes once the skill is fixed.
        let (host, tools, unstarted) = match opened {
            Ok((host, tools)) => (host, tools, None),
            Err(e) => {
                tracing::warn!(expert = %key, "skills did not start: {e}");
                let host: Arc<dyn ToolHost> = Arc::new(UnstartedHost(e.clone()));
                (host, Vec::new(), Some(e))
            }
        };
        let checkpoint = match setting.checkpoint.clone() {
            None => {
                let expert_ref = ExpertRef {
                    key: key.clone(),
                    name: key.clone(),
                    version: expert.version_or_default().to_string(),
                };
                let mut cp =
                    Checkpoint::init(new_id(), &setting.job_id, &setting.run_id, expert_ref);
                cp.step_number = 1;
                cp
            }
            // Like Perstack, a run continues from a checkpoint in a new step.
            Some(mut cp) => {
                cp.id = new_id();
                cp.run_id = setting.run_id.clone();
                cp.step_number += 1;
                cp.error = None;
                cp
            }
        };
        let mut machine = Machine::new(
            setting.clone(),
            Arc::clone(&self.provider),
            host,
            tools,
            emitter,
            checkpoint,
            stop.clone(),
        );
        machine.unstarted = unstarted;
        machine.drive().await?;
        Ok((machine.checkpoint, machine.result_text))
    }

    /// The Expert's tool host if this execution opened it already, else the (locked) place
    /// for it; with the handle of the host's own events, to be pointed at the run about to
    /// use it (a host still to be opened holds its events until then).
    async fn host_slot<'h>(
        &self,
        setting: &RunSetting,
        hosts: &'h Hosts,
    ) -> (HostEvents, HostSlot<'h>) {
        let hosts = hosts.lock().await;
        match hosts.get(&setting.expert_key) {
            Some((host, events)) => (events.clone(), HostSlot::Open(Arc::clone(host))),
            None => (
                HostEvents::held(&setting.job_id, &setting.run_id),
                HostSlot::Vacant(hosts),
            ),
        }
    }

    /// The host of `slot`, opened now (its events going to `events`) if it is vacant.
    async fn open_host(
        &self,
        setting: &RunSetting,
        slot: HostSlot<'_>,
        events: &HostEvents,
    ) -> Result<Arc<dyn ToolHost>, ToolHostError> {
        let mut hosts = match slot {
            HostSlot::Open(host) => return Ok(host),
            HostSlot::Vacant(hosts) => hosts,
        };
        let request = HostRequest {
            expert_key: setting.expert_key.clone(),
            job_id: setting.job_id.clone(),
            run_id: setting.run_id.clone(),
            events: events.clone(),
        };
        let host = self.tools.open(request).await?;
        hosts.insert(
            setting.expert_key.clone(),
            (Arc::clone(&host), events.clone()),
        );
        Ok(host)
    }
}

/// Where an Expert's tool host is: open already, or to be opened (the execution's hosts
/// locked meanwhile, so one Expert's host is opened once).
enum HostSlot<'h> {
    Open(Arc<dyn ToolHost>),
    Vacant(tokio::sync::MutexGuard<'h, HostMap>),
}

/// Background tasks of one execution, stopped when it ends.
struct Watchers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Watchers {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

fn initialize_event(setting: &RunSetting, expert_version: &str) -> RuntimeEventPayload {
    RuntimeEventPayload::InitializeRuntime {
        runtime_version: env!("CARGO_PKG_VERSION").to_string(),
        runtime: Some("local".into()),
        expert_name: setting.expert_key.clone(),
        experts: setting.experts.keys().cloned().collect(),
        model: setting.model.clone(),
        max_steps: setting.max_steps,
        max_retries: setting.max_retries,
        timeout: u64::try_from(setting.timeout.as_millis()).unwrap_or(u64::MAX),
        query: setting.input.text.clone(),
        interactive_tool_call: setting
            .input
            .interactive_tool_call_result
            .as_ref()
            .map(|r| InteractiveToolCallInfo {
                tool_name: r.tool_name.clone(),
                tool_call_id: r.tool_call_id.clone(),
                text: r.text.clone(),
            }),
        git_revision: setting.trace.git_revision.clone(),
        expert_version: Some(expert_version.to_string()),
        config_hash: setting.trace.config_hash.clone(),
        lockfile_hash: setting.trace.lockfile_hash.clone(),
        event_schema_version: Some(EVENT_SCHEMA_VERSION.to_string()),
        egress: setting.trace.egress.clone(),
        confinement: setting.trace.confinement.clone(),
        provider_endpoint: setting.trace.provider_endpoint.clone(),
    }
}
