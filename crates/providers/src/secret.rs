//! A credential that never shows itself in `Debug`, logs or errors.

use std::fmt;

/// An API key or token. `Debug` prints `Secret([REDACTED])`; there is no `Display`,
/// so a key cannot end up in a formatted message by accident. Read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for the one place that needs it: the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of this credential replaced by `[REDACTED]`.
    ///
    /// Providers sometimes echo part of the request (or a malformed key) back in error
    /// messages, so everything we keep from a response goes through this first.
    pub fn scrub(&self, text: &str) -> String {
        // Very short keys would redact ordinary words; real keys are long.
        if self.0.len() < 8 || !text.contains(self.0.as_str()) {
            return text.to_string();
        }
        text.replace(self.0.as_str(), "[REDACTED]")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("sk-ant-verysecretvalue123");
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret([REDACTED]))");
        assert_eq!(s.expose(), "sk-ant-verysecretvalue123");
    }

    #[test]
    fn scrub_replaces_every_occurrence() {
        let s = Secret::new("key-1234567890");
        assert_eq!(
            s.scrub("bad key key-1234567890 (key-1234567890)"),
            "bad key [REDACTED] ([REDACTED])"
        );
        assert_eq!(Secret::new("abc").scrub("abc"), "abc");
    }
}
