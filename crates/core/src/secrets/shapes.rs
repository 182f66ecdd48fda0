//! The secret shapes, matched by hand.
//!
//! Each shape is the language of one regular expression (kept beside its matcher, and in
//! `crates/core/tests/secret_shapes.rs`, which checks this module against the `regex` crate
//! on generated text). Matching them by hand costs no compilation: nine compiled regexes
//! took about 8 M instructions at every start, before the first model request, plus a
//! matching cache per regex per thread. Every shape begins with an ASCII literal, so a
//! match is found by looking for the literal's first byte and checking the rest in place.
//!
//! Like `Regex::find_iter`, [`find_iter`] reports the leftmost match, then searches again
//! from its end.

use std::ops::Range;

use super::SecretKind;

/// The non-overlapping matches of `kind`'s shape in `text`, leftmost first.
pub(super) fn find_iter(kind: SecretKind, text: &str) -> impl Iterator<Item = Range<usize>> {
    let mut from = 0;
    std::iter::from_fn(move || {
        let (start, end) = next_match(kind, text, from)?;
        from = end;
        Some(start..end)
    })
}

/// The leftmost match of `kind` starting at or after `from`.
fn next_match(kind: SecretKind, text: &str, mut from: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    loop {
        let rest = bytes.get(from..)?;
        let at = from
            + match kind {
                SecretKind::BearerToken => memchr::memchr2(b'b', b'B', rest)?,
                SecretKind::AnthropicKey
                | SecretKind::OpenAiKey
                | SecretKind::GoogleKey
                | SecretKind::AwsAccessKey
                | SecretKind::GithubToken
                | SecretKind::SlackToken
                | SecretKind::PrivateKey
                | SecretKind::Jwt => memchr::memchr(first_byte(kind), rest)?,
            };
        if let Some(end) = match_at(kind, text, at) {
            return Some((at, end));
        }
        from = at + 1;
    }
}

fn first_byte(kind: SecretKind) -> u8 {
    match kind {
        SecretKind::AnthropicKey | SecretKind::OpenAiKey => b's',
        SecretKind::GoogleKey | SecretKind::AwsAccessKey => b'A',
        SecretKind::GithubToken => b'g',
        SecretKind::SlackToken => b'x',
        SecretKind::BearerToken => b'b',
        SecretKind::PrivateKey => b'-',
        SecretKind::Jwt => b'e',
    }
}

/// The end of `kind`'s match starting at byte `at` (an ASCII byte), if one starts there.
fn match_at(kind: SecretKind, text: &str, at: usize) -> Option<usize> {
    let b = text.as_bytes();
    match kind {
        // -----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)
        SecretKind::PrivateKey => {
            let body = pem_line(b, at, b"-----BEGIN ")?;
            Some(pem_end(b, body))
        }
        // sk-ant-[A-Za-z0-9_\-]{20,}
        SecretKind::AnthropicKey => run_after(b, at, b"sk-ant-", key_char, 20),
        // sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}: the optional prefixes are made of
        // key characters, so the match is the same run either way.
        SecretKind::OpenAiKey => run_after(b, at, b"sk-", key_char, 20),
        // AIza[0-9A-Za-z_\-]{35}
        SecretKind::GoogleKey => {
            run_after(b, at, b"AIza", key_char, 35)?;
            Some(at + 4 + 35)
        }
        // (?:AKIA|ASIA)[0-9A-Z]{16}\b
        SecretKind::AwsAccessKey => {
            let lit = b.get(at..at + 4)?;
            if lit != b"AKIA" && lit != b"ASIA" {
                return None;
            }
            let end = at + 4 + 16;
            let id = b.get(at + 4..end)?;
            if !id
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            {
                return None;
            }
            // `\b` after word characters: the next character is not one (Unicode `\w`).
            let next = text.get(end..)?.chars().next();
            match next {
                Some(c) if is_word_char(c) => None,
                Some(_) | None => Some(end),
            }
        }
        // gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}
        SecretKind::GithubToken => {
            if b.get(at..at + 11) == Some(b"github_pat_".as_slice()) {
                return run_after(
                    b,
                    at,
                    b"github_pat_",
                    |c| c.is_ascii_alphanumeric() || c == b'_',
                    40,
                );
            }
            let kind = *b.get(at + 2)?;
            if b.get(at..at + 2) != Some(b"gh".as_slice())
                || !b"pousr".contains(&kind)
                || b.get(at + 3) != Some(&b'_')
            {
                return None;
            }
            at_least(b, at + 4, |c| c.is_ascii_alphanumeric(), 36)
        }
        // xox[abprs]-[A-Za-z0-9\-]{10,}
        SecretKind::SlackToken => {
            let kind = *b.get(at + 3)?;
            if b.get(at..at + 3) != Some(b"xox".as_slice())
                || !b"abprs".contains(&kind)
                || b.get(at + 4) != Some(&b'-')
            {
                return None;
            }
            at_least(b, at + 5, |c| c.is_ascii_alphanumeric() || c == b'-', 10)
        }
        // eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}
        // (`.` is not a key character, so each run ends where the next part must begin.)
        SecretKind::Jwt => {
            let header = run_after(b, at, b"eyJ", key_char, 8)?;
            let payload = run_after(b, header, b".eyJ", key_char, 8)?;
            run_after(b, payload, b".", key_char, 8)
        }
        // (?i)bearer\s+[A-Za-z0-9._~+/=\-]{16,}
        SecretKind::BearerToken => bearer(text, at),
    }
}

/// A character of the key shapes: `[A-Za-z0-9_\-]`.
fn key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// After literal `lit` at `at`, a run of at least `min` bytes of `class`: the run's end.
fn run_after(b: &[u8], at: usize, lit: &[u8], class: fn(u8) -> bool, min: usize) -> Option<usize> {
    if !b.get(at..)?.starts_with(lit) {
        return None;
    }
    at_least(b, at + lit.len(), class, min)
}

/// The end of the (greedy) run of `class` bytes from `from`, if it is at least `min` long.
fn at_least(b: &[u8], from: usize, class: impl Fn(u8) -> bool, min: usize) -> Option<usize> {
    let run = b.get(from..)?.iter().take_while(|&&c| class(c)).count();
    (run >= min).then_some(from + run)
}

/// A PEM boundary `lit[A-Z0-9 ]*PRIVATE KEY-----` at `at`: where the line ends. The label
/// class holds no `-`, so its run is the longest one and must end with `PRIVATE KEY`.
fn pem_line(b: &[u8], at: usize, lit: &[u8]) -> Option<usize> {
    if !b.get(at..)?.starts_with(lit) {
        return None;
    }
    let label_start = at + lit.len();
    let label_end = at_least(
        b,
        label_start,
        |c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' ',
        0,
    )?;
    let label = b.get(label_start..label_end)?;
    (label.ends_with(b"PRIVATE KEY") && b.get(label_end..)?.starts_with(b"-----"))
        .then_some(label_end + 5)
}

/// Where a private key block whose body starts at `body` ends: after the first END line,
/// else at the end of the text.
fn pem_end(b: &[u8], body: usize) -> usize {
    let mut from = body;
    while let Some(found) = b
        .get(from..)
        .and_then(|rest| memchr::memmem::find(rest, b"-----END "))
    {
        let at = from + found;
        if let Some(end) = pem_line(b, at, b"-----END ") {
            return end;
        }
        from = at + 1;
    }
    b.len()
}

/// `(?i)bearer\s+[A-Za-z0-9._~+/=\-]{16,}` at `at`. Case-insensitive as the regex is: the
/// class also holds the two letters whose case folds into it, `K` (U+212A, Kelvin) and `ſ`
/// (U+017F, long s); `\s` is Unicode white space.
fn bearer(text: &str, at: usize) -> Option<usize> {
    let word = text.as_bytes().get(at..at + 6)?;
    if !word.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let rest = text.get(at + 6..)?;
    let space: usize = rest
        .chars()
        .take_while(|c| c.is_whitespace())
        .map(char::len_utf8)
        .sum();
    if space == 0 {
        return None;
    }
    let (mut chars, mut len) = (0usize, 0usize);
    for c in rest.get(space..)?.chars() {
        let in_class = c.is_ascii_alphanumeric()
            || matches!(
                c,
                '.' | '_' | '~' | '+' | '/' | '=' | '-' | '\u{212A}' | '\u{17F}'
            );
        if !in_class {
            break;
        }
        chars += 1;
        len += c.len_utf8();
    }
    (chars >= 16).then_some(at + 6 + space + len)
}

/// Unicode `\w` as the `regex` crate defines it (UTS#18 Annex C).
fn is_word_char(c: char) -> bool {
    regex_syntax::try_is_word_character(c).unwrap_or_else(|_| c.is_alphanumeric() || c == '_')
}
