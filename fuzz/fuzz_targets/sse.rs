//! The SSE parser (crates/providers/src/sse.rs) on arbitrary bytes cut into arbitrary
//! chunks: never panics, and the events do not depend on where the network cut the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perstack_providers::sse::SseParser;

fuzz_target!(|input: &[u8]| {
    let Some((&cut_seed, data)) = input.split_first() else {
        return;
    };
    // A small limit so the too-large path is reached too.
    let limit = 1024;
    let mut whole = SseParser::with_limit(limit);
    let mut expected = Vec::new();
    let whole_result = whole.feed(data, &mut expected);

    let mut chunked = SseParser::with_limit(limit);
    let mut got = Vec::new();
    let step = usize::from(cut_seed % 7) + 1;
    let mut chunked_result = Ok(());
    for chunk in data.chunks(step) {
        chunked_result = chunked.feed(chunk, &mut got);
        if chunked_result.is_err() {
            break;
        }
    }
    // A stream over the limit fails either way; before that, both saw the same events.
    assert_eq!(whole_result.is_err(), chunked_result.is_err());
    if whole_result.is_ok() {
        assert_eq!(expected, got);
        assert_eq!(whole.retry_ms(), chunked.retry_ms());
    }
});
