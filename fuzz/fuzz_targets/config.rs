//! The config loader (perstack_core::config::parse_config, what `load_config` runs on a
//! file's text) on arbitrary text: never panics; every error carries at least one diagnostic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    match perstack_core::config::parse_config("perstack.toml", &text) {
        Ok(_) => {}
        Err(diags) => assert!(!diags.0.is_empty(), "an error without a diagnostic"),
    }
});
