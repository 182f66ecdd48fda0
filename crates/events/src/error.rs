//! The crate's error type.

/// Failures reading or writing events.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The sink (stdout, a file) could not be written; the event was not delivered.
    #[error("cannot write event: {0}; check that the output is open and the disk has room")]
    Write(#[source] std::io::Error),
    /// The source could not be read.
    #[error("cannot read events: {0}")]
    Read(#[source] std::io::Error),
    /// A line is not a valid event.
    #[error("line {line}: not a valid event: {message}")]
    InvalidLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A compact stream refers to a message or conversation it has not carried (the reader
    /// started after the run's first line, or lines are missing).
    #[error(
        "compact stream: refers to {0} it has not carried; read the stream from its first line"
    )]
    Compact(String),
}
