//! This process's stderr, redacted: `tracing` logs (`--verbose`, `PERSTACK_LOG`) and the
//! run errors the commands print go through the invocation's [`Redactor`].
//!
//! Logging starts before the config and env files are read, so the redactor knows only
//! secret shapes until [`install`] hands it the full one.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use perstack_sandbox::Redactor;
use tracing_subscriber::fmt::MakeWriter;

static REDACTOR: RwLock<Option<Arc<Redactor>>> = RwLock::new(None);

/// Erases the current terminal line and returns to its start.
pub(crate) const CLEAR_LINE: &str = "\r\x1b[2K";

/// Whether `start`'s status line is on the terminal now. Set and cleared with stderr locked,
/// so a log record can erase it first instead of being written onto it; the next redraw
/// puts it back below.
pub(crate) static STATUS_ON_SCREEN: AtomicBool = AtomicBool::new(false);

/// From now on stderr is redacted with `redactor`.
pub(crate) fn install(redactor: Arc<Redactor>) {
    *REDACTOR.write().unwrap_or_else(PoisonError::into_inner) = Some(redactor);
}

/// `text` redacted with the installed redactor (secret shapes only before [`install`]).
pub(crate) fn redact(text: &str) -> String {
    match &*REDACTOR.read().unwrap_or_else(PoisonError::into_inner) {
        Some(r) => r.redact(text),
        None => perstack_core::secrets::redact_secret_shapes(text),
    }
}

/// `text` redacted and with its control characters neutralised, for stderr.
pub(crate) fn for_stderr(text: &str) -> String {
    crate::terminal::neutralise(&redact(text)).into_owned()
}

/// The `tracing` writer: one log record is buffered, then redacted and written whole.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RecordWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RecordWriter(Vec::new())
    }
}

/// One record, written to stderr (redacted) when dropped.
#[derive(Debug)]
pub(crate) struct RecordWriter(Vec<u8>);

impl Write for RecordWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let text = redact(&String::from_utf8_lossy(&self.0));
        let text = crate::terminal::neutralise(&text);
        let mut err = std::io::stderr().lock();
        write_record(&mut err, &text, &STATUS_ON_SCREEN);
    }
}

/// Writes one log record; a status line on screen is erased first, so the record never
/// lands on top of it (`start` redraws the status line below on its next tick).
fn write_record(out: &mut impl Write, text: &str, status_on_screen: &AtomicBool) {
    if status_on_screen.swap(false, Ordering::SeqCst) {
        let _ = out.write_all(CLEAR_LINE.as_bytes());
    }
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_log_record_erases_the_status_line_first_and_only_once() {
        let on_screen = AtomicBool::new(true);
        let mut out = Vec::new();
        write_record(&mut out, "WARN retrying\n", &on_screen);
        write_record(&mut out, "WARN again\n", &on_screen);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\r\x1b[2KWARN retrying\nWARN again\n"
        );
        assert!(!on_screen.load(Ordering::SeqCst));
    }

    #[test]
    fn shapes_are_redacted_before_install() {
        assert_eq!(
            redact("token ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            "token [REDACTED:github-token]"
        );
    }
}
