//! JSON Lines: one event per line.

use std::io::{BufRead, Write};

use crate::EventsError;
use crate::compact::CompactEvent;
use crate::event::Event;

/// Writes events as JSON Lines, flushing after every line so a reader (or a crash) never sees
/// a partial event sitting in a buffer.
#[derive(Debug)]
pub struct JsonlWriter<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> JsonlWriter<W> {
    /// Wraps a sink.
    pub fn new(out: W) -> Self {
        JsonlWriter {
            out,
            line: Vec::with_capacity(4096),
        }
    }

    /// Writes one event as one line and flushes.
    pub fn write(&mut self, event: &Event) -> Result<(), EventsError> {
        self.write_line(event)
    }

    /// Writes one line of the compact stream and flushes.
    pub fn write_compact(&mut self, event: &CompactEvent) -> Result<(), EventsError> {
        self.write_line(event)
    }

    fn write_line<T: serde::Serialize>(&mut self, event: &T) -> Result<(), EventsError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, event)
            .map_err(|e| EventsError::Write(std::io::Error::other(e)))?;
        self.line.push(b'\n');
        // One write call per line keeps lines whole when several writers share a pipe.
        self.out.write_all(&self.line).map_err(EventsError::Write)?;
        self.out.flush().map_err(EventsError::Write)
    }

    /// Gives back the sink.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One item read from a log (an [`Event`], or a [`crate::CompactEvent`] from a
/// [`CompactReader`]).
#[derive(Debug)]
pub enum ReadItem<T = Event> {
    /// A valid event.
    Event(T),
    /// A complete line that is not a valid event (the reader goes on).
    Invalid(EventsError),
    /// The last line has no newline and does not parse: a write was cut off. It is reported
    /// once, at the end, and is not an error for the lines before it.
    TornTail {
        /// 1-based line number.
        line: usize,
        /// Bytes in the torn line.
        bytes: usize,
    },
}

/// The line splitting both readers share: blank lines skipped, a torn last line reported once.
#[derive(Debug)]
struct Lines<R: BufRead> {
    input: R,
    line_no: usize,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    fn new(input: R) -> Self {
        Lines {
            input,
            line_no: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    fn next_item<T: serde::de::DeserializeOwned>(&mut self) -> Option<ReadItem<T>> {
        loop {
            if self.done {
                return None;
            }
            self.buf.clear();
            let n = match self.input.read_until(b'\n', &mut self.buf) {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    return Some(ReadItem::Invalid(EventsError::Read(e)));
                }
            };
            if n == 0 {
                self.done = true;
                return None;
            }
            self.line_no += 1;
            let complete = self.buf.last() == Some(&b'\n');
            let text = String::from_utf8_lossy(&self.buf);
            let trimmed = text.trim();
            if trimmed.is_empty() {
                continue;
            }
            return Some(match serde_json::from_str::<T>(trimmed) {
                Ok(ev) => ReadItem::Event(ev),
                Err(_) if !complete => {
                    self.done = true;
                    ReadItem::TornTail {
                        line: self.line_no,
                        bytes: n,
                    }
                }
                Err(e) => ReadItem::Invalid(EventsError::InvalidLine {
                    line: self.line_no,
                    message: e.to_string(),
                }),
            });
        }
    }
}

/// Reads JSON Lines events.
#[derive(Debug)]
pub struct JsonlReader<R: BufRead> {
    lines: Lines<R>,
}

impl<R: BufRead> JsonlReader<R> {
    /// Wraps a source.
    pub fn new(input: R) -> Self {
        JsonlReader {
            lines: Lines::new(input),
        }
    }
}

impl<R: BufRead> Iterator for JsonlReader<R> {
    type Item = ReadItem;

    fn next(&mut self) -> Option<ReadItem> {
        self.lines.next_item()
    }
}

/// Reads a compact stream (`--events compact`) line by line; [`crate::Rebuilder`] turns
/// what it reads back into Perstack's events.
#[derive(Debug)]
pub struct CompactReader<R: BufRead> {
    lines: Lines<R>,
}

impl<R: BufRead> CompactReader<R> {
    /// Wraps a source.
    pub fn new(input: R) -> Self {
        CompactReader {
            lines: Lines::new(input),
        }
    }
}

impl<R: BufRead> Iterator for CompactReader<R> {
    type Item = ReadItem<CompactEvent>;

    fn next(&mut self) -> Option<ReadItem<CompactEvent>> {
        self.lines.next_item()
    }
}
