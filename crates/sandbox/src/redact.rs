//! Secret redaction for any text headed to events, checkpoints or logs: the secret values the
//! runtime knows (its keys) and common secret shapes (see `perstack_core::secrets`).

use perstack_core::secrets::redact_secret_shapes;
use serde_json::Value;

/// Known values shorter than this are not redacted: they would match ordinary text.
pub const MIN_SECRET_LEN: usize = 8;

/// Replaces secrets with `[REDACTED:<kind>]`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// (label, value), longest value first so a secret containing another is replaced whole.
    known: Vec<(String, String)>,
}

impl Redactor {
    /// A redactor that knows only secret shapes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a known secret value, reported as `[REDACTED:<label>]`.
    pub fn with_secret(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.add_secret(label, value);
        self
    }

    /// Adds a known secret value in place.
    pub fn add_secret(&mut self, label: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        if value.len() < MIN_SECRET_LEN || self.known.iter().any(|(_, v)| *v == value) {
            return;
        }
        self.known.push((label.into(), value));
        self.known.sort_by_key(|k| std::cmp::Reverse(k.1.len()));
    }

    /// Number of known values.
    pub fn known_len(&self) -> usize {
        self.known.len()
    }

    /// `text` with every known secret and secret-shaped span redacted.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (label, value) in &self.known {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &format!("[REDACTED:{label}]"));
            }
        }
        redact_secret_shapes(&out)
    }

    /// Redacts every string (keys included) inside a JSON value; true when anything changed.
    pub fn redact_json(&self, value: &mut Value) -> bool {
        match value {
            Value::String(s) => {
                let r = self.redact(s);
                let changed = r != *s;
                if changed {
                    *s = r;
                }
                changed
            }
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, v| self.redact_json(v) | changed),
            Value::Object(map) => {
                let mut changed = false;
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    changed |= self.redact_json(&mut v);
                    let key = self.redact(&k);
                    changed |= key != k;
                    map.insert(key, v);
                }
                changed
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn known_values_and_shapes() {
        let r = Redactor::new().with_secret("ANTHROPIC_API_KEY", "my-very-own-key-123");
        assert_eq!(
            r.redact("key=my-very-own-key-123 and sk-ant-abcdefghijklmnopqrstuvwxyz"),
            "key=[REDACTED:ANTHROPIC_API_KEY] and [REDACTED:anthropic-key]"
        );
    }

    #[test]
    fn each_shape() {
        let r = Redactor::new();
        for (text, kind) in [
            ("Authorization: Bearer abcdefghijklmnop1234", "bearer-token"),
            ("AKIAIOSFODNN7EXAMPLE", "aws-access-key"),
            (
                "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
                "private-key",
            ),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
                "jwt",
            ),
            ("sk-proj-abcdefghijklmnopqrstuvwxyz", "openai-key"),
        ] {
            assert_eq!(
                r.redact(text).contains(&format!("[REDACTED:{kind}]")),
                true,
                "{text}"
            );
        }
    }

    #[test]
    fn short_values_are_ignored() {
        let r = Redactor::new().with_secret("X", "abc");
        assert_eq!(r.known_len(), 0);
        assert_eq!(r.redact("abc"), "abc");
    }

    #[test]
    fn json_strings_and_keys() {
        let r = Redactor::new().with_secret("K", "supersecretvalue");
        let mut v =
            json!({"a": ["supersecretvalue", 1], "supersecretvalue": {"b": "x supersecretvalue"}});
        assert_eq!(r.redact_json(&mut v), true);
        assert_eq!(
            v,
            json!({"a": ["[REDACTED:K]", 1], "[REDACTED:K]": {"b": "x [REDACTED:K]"}})
        );
    }

    #[test]
    fn json_without_secrets_is_unchanged() {
        let r = Redactor::new().with_secret("K", "supersecretvalue");
        let mut v = json!({"a": ["plain", 1, null], "b": {"c": "text"}});
        let before = v.clone();
        assert_eq!(r.redact_json(&mut v), false);
        assert_eq!(v, before);
    }

    proptest! {
        #[test]
        fn known_secret_never_survives(prefix in ".{0,40}", suffix in ".{0,40}", secret in "[A-Za-z0-9]{8,40}") {
            let r = Redactor::new().with_secret("S", secret.clone());
            let out = r.redact(&format!("{prefix}{secret}{suffix}"));
            prop_assert!(!out.contains(&secret) || prefix.contains(&secret) || suffix.contains(&secret) || "[REDACTED:S]".contains(&secret));
        }
    }
}
