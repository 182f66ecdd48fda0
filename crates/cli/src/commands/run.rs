//! `perstack run`: one Expert execution, every event as one JSON line on stdout.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use perstack_checkpoint::Storage;
use perstack_events::{Event, EventsError, JsonlWriter, RunEventPayload};
use perstack_providers::Provider;
use perstack_runtime::StopSignal;

use super::engine::{Engine, tokio_runtime};
use super::prepare::prepare;
use super::why::{RunFacts, exit_line};
use crate::cli::RunArgs;
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
    let facts = RunFacts {
        provider: prepared.provider.name(),
        expert_key: args.expert_key.clone(),
        max_steps: prepared.setting.max_steps,
    };
    runtime.block_on(async move {
        let out = Arc::new(Mutex::new(JsonlWriter::new(std::io::stdout())));
        // Set once the engine exists: stdout closing stops the run as a signal does.
        let stop: Arc<OnceLock<StopSignal>> = Arc::new(OnceLock::new());
        let on_closed = Arc::clone(&stop);
        // Which limit stopped the run, for the line on stderr.
        let budget: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let budget_seen = Arc::clone(&budget);
        let write = move |e: &Event| {
            if let Event::Run(run) = e
                && let RunEventPayload::StopRunByBudget { reason, .. } = &run.payload
            {
                *budget_seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason.clone());
            }
            if crate::stdout_pipe::closed() {
                return;
            }
            let mut w = out.lock().unwrap_or_else(PoisonError::into_inner);
            match w.write(e) {
                Ok(()) => {}
                Err(EventsError::Write(err)) if crate::stdout_pipe::is_broken_pipe(&err) => {
                    let _ = crate::stdout_pipe::check(Err::<(), _>(err));
                    if let Some(stop) = on_closed.get() {
                        stop.stop("SIGPIPE");
                    }
                }
                Err(err) => tracing::error!("{err}"),
            }
        };
        let listener = Arc::new(write.clone());
        let (engine, setting) = Engine::start(prepared, listener);
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
            write(&anchor);
        }
        let _ = std::io::stdout().flush();
        code
    })
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
