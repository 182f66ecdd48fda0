//! This process's stderr, redacted: `tracing` logs (`--verbose`, `PERSTACK_LOG`) and the
//! run errors the commands print go through the invocation's [`Redactor`].
//!
//! Logging starts before the config and env files are read, so the redactor knows only
//! secret shapes until [`install`] hands it the full one.

use std::io::Write;
use std::sync::{Arc, PoisonError, RwLock};

use perstack_sandbox::Redactor;
use tracing_subscriber::fmt::MakeWriter;

static REDACTOR: RwLock<Option<Arc<Redactor>>> = RwLock::new(None);

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
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn shapes_are_redacted_before_install() {
        assert_eq!(
            redact("token ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            "token [REDACTED:github-token]"
        );
    }
}
