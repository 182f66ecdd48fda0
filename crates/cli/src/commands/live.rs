//! The live console of `start` (and `replay --resume-from`): the transcript on stdout and
//! the status line redrawn in place on stderr when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use perstack_core::{PriceTable, ToolCall};
use perstack_events::{Event, RunEventPayload};
use perstack_runtime::EventListener;

use crate::render::status::Status;
use crate::render::{Invocation, Renderer, Style};

use crate::log_redact::{CLEAR_LINE, STATUS_ON_SCREEN};

/// Transcript plus status line.
pub(crate) struct Console {
    renderer: Renderer,
    status: Status,
    status_tty: bool,
    paused: bool,
    started: Instant,
    awaiting_approval: Vec<ToolCall>,
}

impl Console {
    /// A console for this process's stdout and stderr; the status line estimates the cost
    /// with `prices` (the built-in list prices with the config's `[pricing]` overrides);
    /// printed commands repeat `invocation`'s flags.
    pub(crate) fn new(verbose: bool, prices: PriceTable, invocation: Invocation) -> Self {
        Console {
            renderer: Renderer::new(Style::for_stdout(), verbose).with_invocation(invocation),
            status: Status::new()
                .with_cost(Box::new(move |model, usage| prices.cost(model, usage))),
            status_tty: std::io::stderr().is_terminal(),
            paused: false,
            started: Instant::now(),
            awaiting_approval: Vec::new(),
        }
    }

    /// Shows one event.
    pub(crate) fn event(&mut self, e: &Event) {
        // The status line and the approval prompt show event text too.
        let Some(e) = crate::terminal::neutralise_event(e) else {
            return;
        };
        let e = e.as_ref();
        self.status.observe(e);
        if let Event::Run(r) = e
            && let RunEventPayload::StopRunByApproval {
                checkpoint,
                tool_calls,
                ..
            } = &r.payload
            && checkpoint.delegated_by.is_none()
        {
            self.awaiting_approval = tool_calls.clone();
        }
        let text = self.renderer.render(e);
        self.print(&text);
    }

    /// The calls the last approval stop waits on.
    pub(crate) fn awaiting_approval(&self) -> Vec<ToolCall> {
        self.awaiting_approval.clone()
    }

    /// Stops drawing the status line (while a prompt waits for input) or starts again.
    pub(crate) fn pause(&mut self, paused: bool) {
        self.paused = paused;
        if paused {
            self.clear_status();
        } else {
            self.draw_status();
        }
    }

    /// Ends the transcript: closes an open line and removes the status line.
    pub(crate) fn finish(&mut self) {
        // Skill shutdown events may still arrive (with --verbose): no status line after them.
        self.paused = true;
        let text = self.renderer.finish();
        self.print(&text);
        self.clear_status();
    }

    fn print(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        self.clear_status();
        let mut out = std::io::stdout().lock();
        let _ =
            crate::stdout_pipe::check(out.write_all(text.as_bytes()).and_then(|()| out.flush()));
        drop(out);
        self.draw_status();
    }

    /// Redraws the status line, only between whole transcript lines.
    pub(crate) fn draw_status(&mut self) {
        if !self.status_tty || self.paused || !self.renderer.at_line_start() {
            return;
        }
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let line = self.status.line(elapsed);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{CLEAR_LINE}\x1b[2m{line}\x1b[0m");
        let _ = err.flush();
        STATUS_ON_SCREEN.store(true, Ordering::SeqCst);
    }

    fn clear_status(&mut self) {
        let mut err = std::io::stderr().lock();
        if STATUS_ON_SCREEN.swap(false, Ordering::SeqCst) {
            let _ = write!(err, "{CLEAR_LINE}");
            let _ = err.flush();
        }
    }
}

/// A console shared by the runtime's listener and the command.
pub(crate) type SharedConsole = Arc<Mutex<Console>>;

/// Runs `f` on the console.
pub(crate) fn with<T>(console: &SharedConsole, f: impl FnOnce(&mut Console) -> T) -> T {
    f(&mut console.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The runtime listener feeding `console`.
pub(crate) fn listener(console: &SharedConsole) -> Arc<dyn EventListener> {
    let console = Arc::clone(console);
    Arc::new(move |e: &Event| with(&console, |c| c.event(e)))
}

/// Redraws the status line every spinner frame (elapsed time moves without events).
pub(crate) fn ticker(console: &SharedConsole) -> tokio::task::JoinHandle<()> {
    let console = Arc::clone(console);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(100));
        loop {
            every.tick().await;
            with(&console, Console::draw_status);
        }
    })
}
