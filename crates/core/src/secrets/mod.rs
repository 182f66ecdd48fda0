//! Recognising text shaped like a secret (provider keys, bearer tokens, private keys...).
//!
//! Used by config validation to warn about secrets pasted into instructions, and by
//! redaction to scrub events, checkpoints and logs.

mod shapes;

use std::ops::Range;

/// The kinds of secret this module recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// `sk-ant-...`
    AnthropicKey,
    /// `sk-...` / `sk-proj-...`
    OpenAiKey,
    /// `AIza...`
    GoogleKey,
    /// `AKIA...` / `ASIA...`
    AwsAccessKey,
    /// `ghp_...` and friends.
    GithubToken,
    /// `xoxb-...` and friends.
    SlackToken,
    /// `Bearer <token>`.
    BearerToken,
    /// A PEM private key block.
    PrivateKey,
    /// A JSON Web Token.
    Jwt,
}

impl SecretKind {
    /// Short stable name used in `[REDACTED:<name>]` markers and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::AnthropicKey => "anthropic-key",
            SecretKind::OpenAiKey => "openai-key",
            SecretKind::GoogleKey => "google-key",
            SecretKind::AwsAccessKey => "aws-access-key",
            SecretKind::GithubToken => "github-token",
            SecretKind::SlackToken => "slack-token",
            SecretKind::BearerToken => "bearer-token",
            SecretKind::PrivateKey => "private-key",
            SecretKind::Jwt => "jwt",
        }
    }
}

/// A secret-shaped span of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMatch {
    /// What it looks like.
    pub kind: SecretKind,
    /// Byte range in the scanned text.
    pub range: Range<usize>,
}

// Order matters: more specific shapes first, so `sk-ant-` is not reported as an OpenAI key.
// A shape starts at a word boundary, checked in [`starts_a_word`] rather than with `\b`: text
// that is JSON inside a string (a tool result) puts `\n` right before a secret, and `\b`
// would see `n` and miss it. The shapes themselves are in [`shapes`].
const KINDS: [SecretKind; 9] = [
    SecretKind::PrivateKey,
    SecretKind::AnthropicKey,
    SecretKind::OpenAiKey,
    SecretKind::GoogleKey,
    SecretKind::AwsAccessKey,
    SecretKind::GithubToken,
    SecretKind::SlackToken,
    SecretKind::Jwt,
    SecretKind::BearerToken,
];

/// Whether a span starting at byte `start` starts a word: at the start, after a character
/// that is not a letter, digit or `_`, or right after a JSON escape (`\n`, `\t`, `\r`, `\b`,
/// `\f`, `\uXXXX`).
fn starts_a_word(text: &str, start: usize) -> bool {
    let Some(prev) = text.get(..start).and_then(|t| t.chars().next_back()) else {
        return true;
    };
    if !(prev.is_alphanumeric() || prev == '_') {
        return true;
    }
    let before = text.as_bytes().get(..start).unwrap_or_default();
    let n = before.len();
    let short_escape = n >= 2 && before[n - 2] == b'\\' && b"ntrbf".contains(&before[n - 1]);
    let unicode_escape = n >= 6
        && before[n - 6] == b'\\'
        && before[n - 5] == b'u'
        && before[n - 4..].iter().all(u8::is_ascii_hexdigit);
    short_escape || unicode_escape
}

/// Every secret-shaped span in `text`, non-overlapping, in text order.
pub fn find_secrets(text: &str) -> Vec<SecretMatch> {
    let mut found: Vec<SecretMatch> = Vec::new();
    for kind in KINDS {
        for r in shapes::find_iter(kind, text) {
            if starts_a_word(text, r.start)
                && !found
                    .iter()
                    .any(|f| f.range.start < r.end && r.start < f.range.end)
            {
                found.push(SecretMatch { kind, range: r });
            }
        }
    }
    found.sort_by_key(|m| m.range.start);
    found
}

/// Every match of `kind`'s shape alone in `text`, non-overlapping, leftmost first, before
/// the word-start rule and the other kinds are applied: what `Regex::find_iter` of the
/// shape's expression gives (`tests/secret_shapes.rs` checks exactly that).
pub fn shape_spans(kind: SecretKind, text: &str) -> Vec<Range<usize>> {
    shapes::find_iter(kind, text).collect()
}

/// `text` with every secret-shaped span replaced by `[REDACTED:<kind>]`.
pub fn redact_secret_shapes(text: &str) -> String {
    let found = find_secrets(text);
    if found.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in found {
        out.push_str(text.get(last..m.range.start).unwrap_or_default());
        out.push_str("[REDACTED:");
        out.push_str(m.kind.as_str());
        out.push(']');
        last = m.range.end;
    }
    out.push_str(text.get(last..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn recognises_each_kind() {
        let cases = [
            (
                "key sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
                SecretKind::AnthropicKey,
            ),
            ("sk-proj-abcdefghijklmnopqrstuvwxyz", SecretKind::OpenAiKey),
            (
                "AIzaSyA1234567890abcdefghijklmnopqrstuv",
                SecretKind::GoogleKey,
            ),
            ("AKIAIOSFODNN7EXAMPLE", SecretKind::AwsAccessKey),
            (
                "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                SecretKind::GithubToken,
            ),
            ("xoxb-1234567890-abcdef", SecretKind::SlackToken),
            (
                "Authorization: Bearer abcdefghijklmnop1234",
                SecretKind::BearerToken,
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
                SecretKind::PrivateKey,
            ),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
                SecretKind::Jwt,
            ),
        ];
        for (text, kind) in cases {
            let found = find_secrets(text);
            assert_eq!(found.len(), 1, "{text}");
            assert_eq!(found[0].kind, kind, "{text}");
        }
    }

    #[test]
    fn ordinary_prose_is_not_a_secret() {
        for text in [
            "Use the sk- prefix for keys.",
            "The bearer of this message",
            "ask-anything-you-want-to-know-about",
            "AKIA is the prefix of AWS keys",
        ] {
            assert_eq!(find_secrets(text), vec![], "{text}");
        }
    }

    #[test]
    fn secrets_after_json_escapes_are_found() {
        // A tool result is often JSON text: escapes sit right before the secret.
        for text in [
            r#"{"content":"line\nsk-ant-api03-abcdefghijklmnopqrstuvwxyz"}"#,
            r#"{"content":"a\tghp_abcdefghijklmnopqrstuvwxyz0123456789"}"#,
            r#"{"content":"\u001bAKIAIOSFODNN7EXAMPLE"}"#,
            r#"{"h":"x\nBearer abcdefghijklmnop1234"}"#,
        ] {
            assert_eq!(find_secrets(text).len(), 1, "{text}");
        }
        // A word that merely contains a prefix is still not a secret.
        assert_eq!(
            find_secrets("risk-assessment-for-the-whole-project"),
            vec![]
        );
        assert_eq!(find_secrets("élansk-abcdefghijklmnopqrstuvwxyz"), vec![]);
    }

    #[test]
    fn redaction_replaces_spans() {
        assert_eq!(
            redact_secret_shapes("a sk-ant-abcdefghijklmnopqrstuvwxyz b"),
            "a [REDACTED:anthropic-key] b"
        );
    }
}
