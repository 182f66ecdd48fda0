//! Identifiers for jobs, runs, checkpoints, events, messages and parts.
//!
//! Perstack uses cuid2 strings (24 characters, lowercase alphanumeric, starting with a letter).
//! Consumers treat them as opaque, so we produce strings of the same shape from the OS random
//! source rather than reimplementing cuid2's hashing.

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const LEN: usize = 24;

/// A fresh random id of Perstack's shape (24 chars, `[a-z][a-z0-9]{23}`).
pub fn new_id() -> String {
    let mut bytes = [0u8; LEN];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS random source is unavailable only in broken sandboxes; fall back to a
        // time-and-counter seed so ids stay unique within the process.
        fallback_fill(&mut bytes);
    }
    let mut out = String::with_capacity(LEN);
    for (i, b) in bytes.iter().enumerate() {
        let set = if i == 0 { 26 } else { 36 };
        out.push(char::from(ALPHABET[usize::from(*b) % set]));
    }
    out
}

fn fallback_fill(bytes: &mut [u8; LEN]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut state = crate::now_ms()
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in bytes.iter_mut() {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        *b = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
    }
}

/// True when `s` is a safe id to use as a file name (what storage accepts from users).
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_perstack_shape_and_differ() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 24);
        assert!(a.as_bytes()[0].is_ascii_lowercase());
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_ne!(a, b);
        assert!(is_valid_id(&a));
    }

    #[test]
    fn ids_with_path_characters_are_rejected() {
        for bad in ["", "../x", "a/b", "a b", ".", "a\0"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }
}
