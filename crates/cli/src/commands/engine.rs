//! Running prepared settings: one runtime (provider, skill hosts, storage, listener) that
//! `run`, `start` and `replay --resume-from` drive, plus signal handling and exit codes.

use std::sync::Arc;
use std::time::Duration;

use perstack_core::CheckpointStatus;
use perstack_runtime::{
    CompactEventListener, EventListener, RunOutcome, RunSetting, Runtime, RuntimeError,
    SkillHostFactory, StopSignal,
};

use super::prepare::Prepared;
use crate::exit;

/// Where the runtime's events go, in which form.
pub(crate) enum Listener {
    /// Perstack's events (the default).
    Full(Arc<dyn EventListener>),
    /// The compact stream (`run --events compact`).
    Compact(Arc<dyn CompactEventListener>),
}

impl From<Arc<dyn EventListener>> for Listener {
    fn from(l: Arc<dyn EventListener>) -> Self {
        Listener::Full(l)
    }
}

/// A runtime for one CLI invocation; several runs (resumes) may go through it.
pub(crate) struct Engine {
    runtime: Runtime,
    factory: Arc<SkillHostFactory>,
    stop: StopSignal,
    signals: tokio::task::JoinHandle<()>,
}

impl Engine {
    /// Builds the runtime of `p` with `listener`; returns the first run's setting too.
    /// Must be called inside a tokio runtime (it starts the signal watcher).
    pub(crate) fn start(p: Prepared, listener: impl Into<Listener>) -> (Self, RunSetting) {
        let mut factory = SkillHostFactory::new(p.setting.experts.clone(), p.host_options);
        if let Some(lock) = p.lockfile {
            factory = factory.with_lockfile(lock);
        }
        let factory = Arc::new(factory);
        let runtime = Runtime::new(Arc::new(p.provider), factory.clone())
            .with_storage(Arc::clone(&p.storage))
            .with_redactor(p.redactor)
            .with_confinement_probe(p.probe.into_receiver());
        let runtime = match listener.into() {
            Listener::Full(l) => runtime.with_listener(l),
            Listener::Compact(l) => runtime.with_compact_listener(l),
        };
        let stop = StopSignal::new();
        let signals = tokio::spawn(watch_signals(stop.clone()));
        let engine = Engine {
            runtime,
            factory,
            stop,
            signals,
        };
        (engine, p.setting)
    }

    /// Runs `setting` to its stop.
    pub(crate) async fn run(&self, setting: RunSetting) -> Result<RunOutcome, RuntimeError> {
        self.runtime.run_with_stop(setting, self.stop.clone()).await
    }

    /// The stop request SIGINT/SIGTERM fire; also fired when stdout closes under `run`.
    pub(crate) fn stop_signal(&self) -> StopSignal {
        self.stop.clone()
    }

    /// True once SIGINT or SIGTERM arrived: no further run may start.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.fired().is_some()
    }

    /// Stops the signal watcher and the skills; returns the exit code of `result`.
    pub(crate) async fn finish(self, result: &Result<RunOutcome, RuntimeError>) -> u8 {
        // Still watching while the skills shut down (up to their SIGTERM-to-SIGKILL grace): a
        // second signal then must exit at once, not be swallowed by our handler.
        self.factory.shutdown().await;
        self.signals.abort();
        match result {
            Ok(outcome) => {
                if outcome.status() == CheckpointStatus::StoppedBySignal
                    && self.stop.fired().as_deref() == Some("SIGINT")
                {
                    return 130;
                }
                u8::try_from(outcome.exit_code()).unwrap_or(exit::ERROR)
            }
            Err(e) => {
                eprintln!("{}", crate::log_redact::for_stderr(&format!("error: {e}")));
                exit::ERROR
            }
        }
    }
}

/// A multi-threaded tokio runtime, or the exit code to fail with.
pub(crate) fn tokio_runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::ERROR
        })
}

/// First SIGTERM/SIGINT: stop with a resumable checkpoint. Second: exit at once.
async fn watch_signals(stop: StopSignal) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    let mut first = true;
    loop {
        let (name, code) = tokio::select! {
            _ = term.recv() => ("SIGTERM", 143),
            _ = int.recv() => ("SIGINT", 130),
        };
        if !first {
            // exit() runs no destructors, so the skills' kill-on-drop would not fire.
            let killed = perstack_skills::host::kill_all_skill_processes();
            eprintln!("{name} again: exiting now (killed {killed} skill process group(s))");
            std::process::exit(code);
        }
        first = false;
        eprintln!(
            "{name}: stopping; a resumable checkpoint is being written (send again to exit at once)"
        );
        stop.stop(name);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
