//! `perstack run`: one Expert execution, every event as one JSON line on stdout.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use perstack_checkpoint::Storage;
use perstack_events::compact::CompactRunPayload;
use perstack_events::{CompactEvent, Event, EventsError, JsonlWriter, RunEventPayload};
use perstack_providers::Provider;
use perstack_runtime::StopSignal;

use super::engine::{Engine, Listener, tokio_runtime};
use super::prepare::prepare;
use super::why::{RunFacts, exit_line};
use crate::cli::{EventsArg, RunArgs};
use crate::exit;

pub fn run(args: &RunArgs) -> u8 {
    let prepared = match prepare(args) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let runtime = match tokio_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let storage = Arc::clone(&prepared.storage);
    let events = args.output.events;
    let facts = RunFacts {
        provider: prepared.provider.name(),
        expert_key: args.expert_key.clone(),
        max_steps: prepared.setting.max_steps,
    };
    runtime.block_on(async move {
        let out = Arc::new(Mutex::new(JsonlWriter::new(std::io::stdout())));
        // Set once the engine exists: stdout closing stops the run as a signal does.
        let stop: Arc<OnceLock<StopSignal>> = Arc::new(OnceLock::new());
        // Which limit stopped the run, for the line on stderr.
        let budget: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let stdout = Stdout {
            out,
            on_closed: Arc::clone(&stop),
            budget: Arc::clone(&budget),
        };
        let (engine, setting) = match events {
            EventsArg::Full => {
                let stdout = stdout.clone();
                let listener = Arc::new(move |e: &Event| {
                    if let Event::Run(run) = e
                        && let RunEventPayload::StopRunByBudget { reason, .. } = &run.payload
                    {
                        stdout.saw_budget(reason);
                    }
                    stdout.write(|w| w.write(e));
                });
                Engine::start(prepared, Listener::Full(listener))
            }
            EventsArg::Compact => {
                let stdout = stdout.clone();
                let listener = Arc::new(move |e: &CompactEvent| {
                    if let CompactEvent::Run(run) = e
                        && let CompactRunPayload::StopRunByBudget { reason, .. } = &run.payload
                    {
                        stdout.saw_budget(reason);
                    }
                    stdout.write(|w| w.write_compact(e));
                });
                Engine::start(prepared, Listener::Compact(listener))
            }
        };
        let _ = stop.set(engine.stop_signal());
        // Stdout may close while nothing is written (a long generation): notice it anyway.
        let signal = engine.stop_signal();
        let closed = crate::stdout_pipe::watch(move || signal.stop("SIGPIPE"));
        let job_id = setting.job_id.clone();
        let result = engine.run(setting).await;
        closed.abort();
        let signal = engine.stop_signal().fired();
        let code = engine.finish(&result).await;
        if let Ok(outcome) = &result
            && !crate::stdout_pipe::closed()
        {
            let budget = budget
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some(line) = exit_line(outcome, &facts, budget.as_deref(), signal.as_deref()) {
                eprintln!("{}", crate::log_redact::for_stderr(&line));
            }
        }
        // Last on stdout, never stored: the head of the job's logs, for `--verify --expect`.
        if let Some(anchor) = anchor(&storage, &job_id) {
            match events {
                EventsArg::Full => stdout.write(|w| w.write(&anchor)),
                EventsArg::Compact => {
                    let line =
                        CompactEvent::Unknown(serde_json::to_value(&anchor).unwrap_or_default());
                    stdout.write(|w| w.write_compact(&line));
                }
            }
        }
        let _ = std::io::stdout().flush();
        code
    })
}

/// Stdout of `run`: one JSON line per event; a closed pipe stops the run like a signal.
#[derive(Clone)]
struct Stdout {
    out: Arc<Mutex<JsonlWriter<std::io::Stdout>>>,
    /// Set once the engine exists.
    on_closed: Arc<OnceLock<StopSignal>>,
    /// Which limit stopped the run, for the line on stderr.
    budget: Arc<Mutex<Option<String>>>,
}

impl Stdout {
    fn saw_budget(&self, reason: &str) {
        *self.budget.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason.to_string());
    }

    /// Writes one line with `write`, unless the reader is gone.
    fn write(
        &self,
        write: impl FnOnce(&mut JsonlWriter<std::io::Stdout>) -> Result<(), EventsError>,
    ) {
        if crate::stdout_pipe::closed() {
            return;
        }
        let mut w = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        match write(&mut w) {
            Ok(()) => {}
            Err(EventsError::Write(err)) if crate::stdout_pipe::is_broken_pipe(&err) => {
                let _ = crate::stdout_pipe::check(Err::<(), _>(err));
                if let Some(stop) = self.on_closed.get() {
                    stop.stop("SIGPIPE");
                }
            }
            Err(err) => tracing::error!("{err}"),
        }
    }
}

/// The `auditAnchor` event of job `job_id` (none when the job stored nothing): the head of
/// its event logs as this process wrote them (docs/events.md, docs/security.md).
fn anchor(storage: &Storage, job_id: &str) -> Option<Event> {
    if storage.list_runs(job_id).ok()?.is_empty() {
        return None;
    }
    let head = match storage.audit_head(job_id) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("warning: no audit anchor: {e}");
            return None;
        }
    };
    Some(
        perstack_events::AuditAnchor::new(
            perstack_core::id::new_id(),
            perstack_core::now_ms(),
            job_id,
            &head.to_string(),
        )
        .to_event(),
    )
}
