//! An incremental Server-Sent Events parser (the WHATWG `text/event-stream` format).
//!
//! Bytes can be fed in chunks split anywhere — inside a line, inside a UTF-8 character,
//! between the CR and LF of a line ending. Lines end with LF, CRLF or CR; `:` lines are
//! comments; several `data:` lines join with `\n`; a blank line dispatches the event.

use std::fmt;

/// Default limit on the size of one event (data plus the line being read).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 32 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; `None` means the default type (`message`).
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
    /// The last `id:` seen so far in the stream.
    pub id: Option<String>,
}

/// The stream broke a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTooLarge {
    /// The limit in bytes.
    pub limit: usize,
}

impl fmt::Display for EventTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an event exceeded {} bytes", self.limit)
    }
}

impl std::error::Error for EventTooLarge {}

/// Incremental parser state. Feed it chunks, collect events.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of a line not yet terminated.
    line: Vec<u8>,
    /// The previous chunk ended in CR, so a leading LF belongs to that line ending.
    after_cr: bool,
    /// Still at the very start of the stream (a BOM may follow).
    at_start: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
    last_id: Option<String>,
    retry_ms: Option<u64>,
    max_event_bytes: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with the default event size limit.
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A parser that rejects events larger than `max_event_bytes`.
    pub fn with_limit(max_event_bytes: usize) -> Self {
        SseParser {
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            data: String::new(),
            has_data: false,
            event: None,
            last_id: None,
            retry_ms: None,
            max_event_bytes,
        }
    }

    /// The last `retry:` value, in milliseconds.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Parses `chunk`, appending every event it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), EventTooLarge> {
        let mut rest = chunk;
        if self.after_cr {
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
            if !chunk.is_empty() {
                self.after_cr = false;
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', rest) {
            let (head, tail) = rest.split_at(pos);
            let is_cr = tail.first() == Some(&b'\r');
            let mut after = tail.get(1..).unwrap_or_default();
            if is_cr {
                match after.first() {
                    Some(b'\n') => after = after.get(1..).unwrap_or_default(),
                    Some(_) => {}
                    // The LF of a CRLF may start the next chunk.
                    None => self.after_cr = true,
                }
            }
            if self.line.is_empty() {
                // Counted as a buffered line would be, so that where the network cut the
                // stream never changes whether it is too large (found by fuzzing).
                self.check_size(head.len())?;
                self.process_line(head, out)?;
            } else {
                self.check_size(head.len())?;
                self.line.extend_from_slice(head);
                let line = std::mem::take(&mut self.line);
                let result = self.process_line(&line, out);
                // Keep the allocation for the next partial line.
                self.line = line;
                self.line.clear();
                result?;
            }
            rest = after;
        }
        if !rest.is_empty() {
            self.check_size(rest.len())?;
            self.line.extend_from_slice(rest);
        }
        Ok(())
    }

    /// Ends the stream: a final unterminated line is processed and a pending event with
    /// data is dispatched (servers do not always send the last blank line).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), EventTooLarge> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out)?;
        }
        self.dispatch(out);
        Ok(())
    }

    fn check_size(&self, extra: usize) -> Result<(), EventTooLarge> {
        if self.line.len() + self.data.len() + extra > self.max_event_bytes {
            return Err(EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(())
    }

    fn process_line(
        &mut self,
        mut line: &[u8],
        out: &mut Vec<SseEvent>,
    ) -> Result<(), EventTooLarge> {
        if self.at_start {
            self.at_start = false;
            if let Some(stripped) = line.strip_prefix(b"\xEF\xBB\xBF") {
                line = stripped;
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(0) => return Ok(()), // comment
            Some(i) => {
                let (f, v) = line.split_at(i);
                let v = v.get(1..).unwrap_or_default();
                (f, v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.max_event_bytes {
                    return Err(EventTooLarge {
                        limit: self.max_event_bytes,
                    });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry_ms = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if !self.has_data {
            return;
        }
        self.has_data = false;
        out.push(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
        });
    }
}

/// Parses a whole body at once (tests, replay and benchmarks).
pub fn parse_all(body: &[u8]) -> Result<Vec<SseEvent>, EventTooLarge> {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    parser.feed(body, &mut out)?;
    parser.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
            id: None,
        }
    }

    #[test]
    fn parses_events_comments_and_multiline_data() {
        let body = b": keep-alive\n\nevent: ping\ndata: {}\n\ndata: a\ndata:b\ndata:  c\n\n";
        assert_eq!(
            parse_all(body).unwrap(),
            vec![ev(Some("ping"), "{}"), ev(None, "a\nb\n c")]
        );
    }

    #[test]
    fn accepts_crlf_cr_and_lf_line_endings() {
        let body = b"data: 1\r\n\r\ndata: 2\r\rdata: 3\n\n";
        assert_eq!(
            parse_all(body).unwrap(),
            vec![ev(None, "1"), ev(None, "2"), ev(None, "3")]
        );
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_ending() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: x\r", &mut out).unwrap();
        p.feed(b"\ndata: y\r", &mut out).unwrap();
        p.feed(b"\n\r", &mut out).unwrap();
        p.feed(b"\n", &mut out).unwrap();
        assert_eq!(out, vec![ev(None, "x\ny")]);
    }

    #[test]
    fn strips_bom_and_ignores_unknown_fields_and_empty_data_events() {
        let body = "\u{FEFF}data: a\nfoo: bar\n\nevent: nothing\n\nid: 7\nretry: 1500\ndata\n\n";
        let events = parse_all(body.as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![
                ev(None, "a"),
                SseEvent {
                    event: None,
                    data: String::new(),
                    id: Some("7".into())
                }
            ]
        );
    }

    #[test]
    fn retry_field_is_recorded() {
        let mut p = SseParser::new();
        p.feed(b"retry: 1500\n\n", &mut Vec::new()).unwrap();
        assert_eq!(p.retry_ms(), Some(1500));
    }

    #[test]
    fn finish_flushes_an_unterminated_event() {
        assert_eq!(
            parse_all(b"data: [DONE]").unwrap(),
            vec![ev(None, "[DONE]")]
        );
    }

    #[test]
    fn utf8_split_inside_a_character_survives() {
        let text = "data: héllo → 世界\n\n".as_bytes();
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for b in text {
            p.feed(std::slice::from_ref(b), &mut out).unwrap();
        }
        assert_eq!(out, vec![ev(None, "héllo → 世界")]);
    }

    #[test]
    fn oversized_events_are_rejected() {
        let mut p = SseParser::with_limit(16);
        let mut out = Vec::new();
        assert_eq!(
            p.feed(b"data: 0123456789abcdefghij", &mut out),
            Err(EventTooLarge { limit: 16 })
        );
        let mut p = SseParser::with_limit(16);
        p.feed(b"data: 0123456789\n", &mut out).unwrap();
        assert!(p.feed(b"data: 0123456789\n", &mut out).is_err());
    }

    fn arb_body() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            "[a-z]{0,6}".prop_map(|s| format!("data: {s}")),
            "[a-z ]{0,6}".prop_map(|s| format!("event:{s}")),
            "[ -~]{0,6}".prop_map(|s| format!(":{s}")),
            Just(String::new()),
            "[é世a]{0,4}".prop_map(|s| format!("data:{s}")),
        ];
        let ending = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        proptest::collection::vec((line, ending), 0..30).prop_map(|lines| {
            let mut s = String::new();
            for (l, e) in lines {
                s.push_str(&l);
                s.push_str(e);
            }
            s.into_bytes()
        })
    }

    /// Feeds `data` whole and in `step`-byte pieces: (whole result, chunked result).
    fn whole_and_chunked(
        data: &[u8],
        step: usize,
        limit: usize,
    ) -> (
        Result<Vec<SseEvent>, EventTooLarge>,
        Result<Vec<SseEvent>, EventTooLarge>,
    ) {
        let mut whole = SseParser::with_limit(limit);
        let mut a = Vec::new();
        let whole_result = whole.feed(data, &mut a).map(|()| a);
        let mut chunked = SseParser::with_limit(limit);
        let mut b = Vec::new();
        let chunked_result = data
            .chunks(step)
            .try_for_each(|c| chunked.feed(c, &mut b))
            .map(|()| b);
        (whole_result, chunked_result)
    }

    #[test]
    fn a_long_line_is_too_large_whether_or_not_the_network_cut_it() {
        // A comment line over the limit, then an event: in one chunk it was accepted, cut in
        // pieces it was refused (the buffered line counted, the unbuffered one not).
        let body = b": 0123456789abcdefghijklmnop\ndata: x\n\n";
        for step in [1, 4, 7, body.len()] {
            let (whole, chunked) = whole_and_chunked(body, step, 16);
            assert_eq!(whole, Err(EventTooLarge { limit: 16 }), "step {step}");
            assert_eq!(chunked, Err(EventTooLarge { limit: 16 }), "step {step}");
        }
        let fits = b": short\ndata: x\n\n";
        assert_eq!(
            whole_and_chunked(fits, 3, 16),
            (Ok(vec![ev(None, "x")]), Ok(vec![ev(None, "x")]))
        );
    }

    #[test]
    fn the_fuzzers_input_gives_one_outcome_for_every_cut() {
        // fuzz/fuzz_targets/sse.rs found this input (first byte: the chunk size seed).
        let input = include_bytes!("../tests/fixtures/fuzz/sse-chunking-limit.bin");
        let (seed, data) = input.split_first().unwrap();
        for step in [usize::from(seed % 7) + 1, 1, 2, 3, 5, 64, data.len()] {
            let (whole, chunked) = whole_and_chunked(data, step, 1024);
            assert_eq!(whole, chunked, "step {step}");
        }
    }

    proptest! {
        #[test]
        fn any_chunking_yields_the_same_events(
            body in arb_body(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let whole = parse_all(&body).unwrap();
            let mut positions: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
            positions.sort_unstable();
            let mut p = SseParser::new();
            let mut out = Vec::new();
            let mut last = 0;
            for pos in positions {
                p.feed(&body[last..pos], &mut out).unwrap();
                last = pos;
            }
            p.feed(&body[last..], &mut out).unwrap();
            p.finish(&mut out).unwrap();
            prop_assert_eq!(out, whole);
        }
    }
}
