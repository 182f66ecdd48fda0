//! Parse + validate the example multi-Expert config (prints `bench:` lines for `cargo xtask bench`).

#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::time::Instant;

fn main() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/perstack.toml"
    ))
    .unwrap();
    let iterations = 2_000u32;
    // Warm-up (lazy regexes, schema generation caches).
    for _ in 0..50 {
        perstack_core::config::parse_config("perstack.toml", &text).unwrap();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(perstack_core::config::parse_config("perstack.toml", &text).unwrap());
    }
    let per = start.elapsed() / iterations;
    println!(
        "bench: config.parse_validate example ({} bytes, 3 experts): {:.1} us per file",
        text.len(),
        per.as_secs_f64() * 1e6
    );
}
