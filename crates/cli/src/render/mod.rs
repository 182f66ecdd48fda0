//! The transcript `perstack start` prints and `perstack replay` reproduces: events in,
//! human-readable text out.
//!
//! Rendering is a pure function of the event sequence (elapsed times come from event
//! timestamps, never from the clock), so replaying stored events prints exactly what was
//! printed live. Skill lifecycle events are not stored, so they appear only live, and only
//! with `--verbose`.

mod invocation;
mod run_events;
mod runtime_events;
pub mod status;
mod stop;
pub mod style;
pub mod text;

use std::collections::{HashMap, HashSet};

use perstack_events::{Event, InteractiveToolCallInfo};

pub use invocation::Invocation;
pub(crate) use stop::shell_word;
pub use style::Style;

/// What `initializeRuntime` said about a run, kept until its `startRun`.
#[derive(Debug, Clone)]
struct RunInit {
    model: String,
    query: Option<String>,
    answer: Option<InteractiveToolCallInfo>,
    max_steps: Option<u32>,
    timestamp: u64,
}

/// What the renderer knows about one run.
#[derive(Debug, Clone)]
struct RunView {
    /// Nesting level: 0 for the job's Expert, +1 per delegation.
    depth: usize,
    expert: String,
    started_at: u64,
    max_steps: Option<u32>,
    /// The last step whose header was printed.
    headed_step: Option<u32>,
    /// The step whose reasoning was streamed (not printed again from the message).
    reasoning_streamed_step: Option<u32>,
    /// The result was streamed, so `completeRun` does not print it again.
    streamed_result: bool,
    /// The last text printed from the model's messages.
    last_text: Option<String>,
}

/// Turns events into transcript text.
#[derive(Debug)]
pub struct Renderer {
    style: Style,
    verbose: bool,
    /// The flags the printed commands repeat (config and workspace).
    invocation: Invocation,
    inits: HashMap<String, RunInit>,
    runs: HashMap<String, RunView>,
    delegate_calls: HashSet<String>,
    shown_messages: HashSet<String>,
    shown_calls: HashSet<String>,
    shown_results: HashSet<String>,
    at_line_start: bool,
    /// Marks every line written while set (reasoning).
    prefix: &'static str,
    /// What to do next after the last stop of the job's Expert: printed by `finish` only, so
    /// a stop answered in the same process (a prompt) shows no command.
    pending_hints: Vec<String>,
}

/// Marks reasoning lines, so they read apart from the model's answer without colour.
const REASONING: &str = "┊ ";

impl Renderer {
    /// A renderer; `verbose` adds skill lifecycle lines (live only).
    pub fn new(style: Style, verbose: bool) -> Self {
        Renderer {
            style,
            verbose,
            invocation: Invocation::default(),
            inits: HashMap::new(),
            runs: HashMap::new(),
            delegate_calls: HashSet::new(),
            shown_messages: HashSet::new(),
            shown_calls: HashSet::new(),
            shown_results: HashSet::new(),
            at_line_start: true,
            prefix: "",
            pending_hints: Vec::new(),
        }
    }

    /// Printed commands (what to do next) carry `invocation`'s `--config`/`--workspace`.
    #[must_use]
    pub fn with_invocation(mut self, invocation: Invocation) -> Self {
        self.invocation = invocation;
        self
    }

    /// The text to print for `event` (often empty).
    pub fn render(&mut self, event: &Event) -> String {
        let mut out = String::new();
        // Model, tool and skill text must not drive the terminal: every string of the event
        // is neutralised before any styling is added.
        let Some(event) = crate::terminal::neutralise_event(event) else {
            return out;
        };
        match event.as_ref() {
            Event::Run(e) => self.run_event(e, &mut out),
            Event::Runtime(e) => self.runtime_event(e, &mut out),
            Event::Unknown(_) => {}
        }
        out
    }

    /// Whether everything printed so far ends with a newline (a status line may be drawn).
    pub fn at_line_start(&self) -> bool {
        self.at_line_start
    }

    /// Text that ends the transcript cleanly (a newline if a stream was cut off), with the
    /// commands that go on from the last stop, if any.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        self.break_line(&mut out);
        for hint in std::mem::take(&mut self.pending_hints) {
            self.line(&mut out, 0, &hint);
        }
        out
    }

    /// Appends `text` at `depth`, indenting every line it starts.
    fn write(&mut self, out: &mut String, depth: usize, text: &str) {
        for c in text.chars() {
            if self.at_line_start && c != '\n' {
                out.push_str(&"  ".repeat(depth));
                out.push_str(self.prefix);
            }
            out.push(c);
            self.at_line_start = c == '\n';
        }
    }

    /// Ends a line left open by streamed text.
    fn break_line(&mut self, out: &mut String) {
        if !self.at_line_start {
            out.push('\n');
            self.at_line_start = true;
        }
    }

    /// Appends one whole line (styled text may carry escape codes) at `depth`.
    fn line(&mut self, out: &mut String, depth: usize, text: &str) {
        self.break_line(out);
        self.write(out, depth, text);
        self.write(out, depth, "\n");
    }

    /// Appends a block of text (several lines) at `depth`.
    fn block(&mut self, out: &mut String, depth: usize, text: &str) {
        for l in text.trim_end().lines() {
            self.line(out, depth, l);
        }
    }

    /// Appends reasoning at `depth`: dimmed, each line marked.
    fn reasoning(&mut self, out: &mut String, depth: usize, text: &str) {
        self.prefix = REASONING;
        let dim = self.style.dim(text);
        self.write(out, depth, &dim);
        self.prefix = "";
    }
}

#[cfg(test)]
mod tests;
