//! `find_secrets` matches its shapes by hand (`src/secrets/shapes.rs`). Here the regular
//! expressions those shapes are written as are the oracle: on generated text made of the
//! shapes' own pieces (prefixes, runs, separators, Unicode look-alikes and white space),
//! the hand matcher must find exactly what the `regex` crate finds, shape by shape and span
//! for span.

#![allow(clippy::expect_used)] // test helpers outside #[test] fns

use std::ops::Range;
use std::sync::LazyLock;

use perstack_core::secrets::{SecretKind, shape_spans};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use regex::Regex;

/// The shapes as regular expressions, in `find_secrets`' order (the definition of record).
fn oracle_patterns() -> &'static [(SecretKind, Regex)] {
    static PATTERNS: LazyLock<Vec<(SecretKind, Regex)>> = LazyLock::new(|| {
        [
        (
            SecretKind::PrivateKey,
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
        ),
        (SecretKind::AnthropicKey, r"sk-ant-[A-Za-z0-9_\-]{20,}"),
        (
            SecretKind::OpenAiKey,
            r"sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}",
        ),
        (SecretKind::GoogleKey, r"AIza[0-9A-Za-z_\-]{35}"),
        (SecretKind::AwsAccessKey, r"(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        (
            SecretKind::GithubToken,
            r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})",
        ),
        (SecretKind::SlackToken, r"xox[abprs]-[A-Za-z0-9\-]{10,}"),
        (
            SecretKind::Jwt,
            r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
        ),
        (
            SecretKind::BearerToken,
            r"(?i)bearer\s+[A-Za-z0-9._~+/=\-]{16,}",
        ),
    ]
    .into_iter()
    .map(|(k, p)| (k, Regex::new(p).expect("oracle pattern compiles")))
    .collect()
    });
    &PATTERNS
}

/// Every shape's spans by hand and by its regex, kind by kind (the word-start rule and the
/// overlap between kinds come after, in `find_secrets`, and are not under test here).
fn compare(text: &str) -> Result<(), String> {
    for (kind, re) in oracle_patterns() {
        let by_regex: Vec<Range<usize>> = re.find_iter(text).map(|m| m.range()).collect();
        let by_hand = shape_spans(*kind, text);
        if by_hand != by_regex {
            return Err(format!(
                "{kind:?} in {text:?}: by hand {by_hand:?}, by regex {by_regex:?}"
            ));
        }
    }
    Ok(())
}

/// Pieces the shapes are made of, and the characters at their edges.
const PIECES: &[&str] = &[
    "sk-",
    "sk-ant-",
    "proj-",
    "svcacct-",
    "AIza",
    "AKIA",
    "ASIA",
    "gh",
    "ghp_",
    "gho_",
    "ghx_",
    "github_pat_",
    "xox",
    "xoxb-",
    "xoxq-",
    "eyJ",
    ".",
    "..",
    "bearer",
    "Bearer",
    "bEaReR",
    "BEARER",
    "-----BEGIN ",
    "-----END ",
    "PRIVATE KEY",
    "-----",
    "RSA ",
    " ",
    "  ",
    "\t",
    "\n",
    "\\n",
    "\\u001b",
    "\u{a0}",
    "\u{2003}",
    "\u{3000}",
    "\u{85}",
    "\u{212A}",
    "\u{17F}",
    "é",
    "ß",
    "\u{301}",
    "\u{200D}",
    "²",
    "_",
    "-",
    "=",
    "/",
    "+",
    "~",
    ":",
    "\"",
];

fn run() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Z0-9]{0,24}",
        "[a-z0-9]{0,24}",
        "[A-Za-z0-9_\\-]{0,48}",
        "[A-Za-z0-9._~+/=\\-]{0,24}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(PIECES).prop_map(str::to_string),
            2 => run(),
            1 => any::<char>().prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn hand_matcher_finds_what_the_regexes_find(text in text()) {
        prop_assert_eq!(compare(&text), Ok(()));
    }
}

/// Known edges, each once: look-alikes, boundaries, runs one short, blocks without an end.
#[test]
fn corpus_of_edges_matches_the_regexes() {
    let long = "A".repeat(40);
    let corpus = [
        String::new(),
        "sk-ant-abcdefghijklmnopqrstuvwxyz".into(),
        "sk-ant-abcdefghijklmnopqrs".into(),
        "sk-abcdefghijklmnopqrs".into(),
        "sk-abcdefghijklmnopqrst".into(),
        "sk-proj-abcdefghijklmnopq".into(),
        "sk-sk-ant-abcdefghijklmnopqrstuvwxyz".into(),
        "AIzaSyA1234567890abcdefghijklmnopqrstu".into(),
        "AIzaSyA1234567890abcdefghijklmnopqrstuvwxyz".into(),
        "AKIAIOSFODNN7EXAMPLE".into(),
        "AKIAIOSFODNN7EXAMPLEX".into(),
        "AKIAIOSFODNN7EXAMPLEé".into(),
        "AKIAIOSFODNN7EXAMPLE\u{301}".into(),
        "AKIAIOSFODNN7EXAMPLE²".into(),
        "AKIAIOSFODNN7EXAMPLE\u{200D}".into(),
        "AKIAKIAIOSFODNN7EXAMPLE".into(),
        "AKIAASIAIOSFODNN7EXAMPLE".into(),
        format!("ghp_{long}"),
        format!("ghr_{}", &long[..35]),
        format!("github_pat_{long}"),
        format!("github_pat_{}", &long[..39]),
        "xoxb-1234567890".into(),
        "xoxb-123456789".into(),
        "eyJabcdefgh.eyJabcdefgh.abcdefgh".into(),
        "eyJabcdefg.eyJabcdefgh.abcdefgh".into(),
        "eyJabcdefgh.eyJabcdefgh.abcdefg".into(),
        "eyJabcdefgh..eyJabcdefgh.abcdefgh".into(),
        "Bearer abcdefghijklmnop".into(),
        "bearer\u{a0}\u{2003}abcdefghijklmnop".into(),
        "BEARER abcdefghijklmno".into(),
        "bearer \u{212A}\u{17F}abcdefghijklmn".into(),
        "bearerabcdefghijklmnopqrs".into(),
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----tail".into(),
        "-----BEGIN PRIVATE KEY-----\nno end".into(),
        "-----BEGIN PRIVATE KEY-----x-----END PUBLIC KEY----- -----END PRIVATE KEY-----".into(),
        "-----BEGIN PRIVATE KEY----- -----BEGIN PRIVATE KEY----- -----END PRIVATE KEY-----".into(),
        "------BEGIN PRIVATE KEY-----".into(),
        "-----BEGIN PRIVATE KEYS-----".into(),
        "x-----BEGIN PRIVATE KEY----- sk-abcdefghijklmnopqrstuvwxyz".into(),
        "risk-assessment-for-the-whole-project".into(),
        "élansk-abcdefghijklmnopqrstuvwxyz".into(),
        r#"{"content":"line\nsk-ant-api03-abcdefghijklmnopqrstuvwxyz"}"#.into(),
        r#"{"content":"\u001bAKIAIOSFODNN7EXAMPLE"}"#.into(),
    ];
    for text in corpus {
        assert_eq!(compare(&text), Ok(()));
    }
}
