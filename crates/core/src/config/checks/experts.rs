//! Expert-level checks: key shape, version, tags, delegates, instruction.

use super::Sink;
use crate::config::diagnostic::{KeyPath, did_you_mean};
use crate::config::model::{ExpertConfig, PerstackConfig};
use crate::expert_key::{ExpertKey, is_semver};

pub(crate) fn check(
    config: &PerstackConfig,
    key: &str,
    expert: &ExpertConfig,
    path: &KeyPath,
    sink: &mut Sink<'_>,
) {
    if let Err(e) = ExpertKey::parse(key) {
        sink.error_at_key(path, e.to_string());
    }
    if let Some(v) = &expert.version
        && !is_semver(v)
    {
        sink.error(
            &path.field("version"),
            format!("\"{v}\" is not a semantic version; write MAJOR.MINOR.PATCH, e.g. \"1.0.0\""),
        );
    }
    if expert.instruction.trim().is_empty() {
        sink.error(
            &path.field("instruction"),
            "instruction is empty; tell the Expert what it is for and how to work",
        );
    }
    if let Some(tags) = &expert.tags {
        for (i, tag) in tags.iter().enumerate() {
            if !is_tag(tag) {
                sink.error(
                    &path.field("tags").index(i),
                    format!(
                        "tag \"{tag}\" must start with a lowercase letter or digit and use only lowercase letters, digits, '_' and '-'"
                    ),
                );
            }
        }
    }
    check_delegates(config, key, expert, path, sink);
    if config.experts.len() > 1
        && expert.description.as_deref().is_none_or(str::is_empty)
        && config
            .experts
            .values()
            .any(|e| e.delegates.iter().flatten().any(|d| d == key))
    {
        sink.warn(
            path,
            "this Expert is a delegate but has no description; the delegating Expert sees the description as the tool's purpose",
        );
    }
}

fn check_delegates(
    config: &PerstackConfig,
    key: &str,
    expert: &ExpertConfig,
    path: &KeyPath,
    sink: &mut Sink<'_>,
) {
    let Some(delegates) = &expert.delegates else {
        return;
    };
    let defined: Vec<&str> = config.experts.keys().map(String::as_str).collect();
    let mut seen: Vec<&str> = Vec::new();
    for (i, d) in delegates.iter().enumerate() {
        let dpath = path.field("delegates").index(i);
        if seen.contains(&d.as_str()) {
            sink.error(&dpath, format!("delegate \"{d}\" is listed twice"));
            continue;
        }
        seen.push(d);
        if d == key {
            sink.error(&dpath, "an Expert cannot delegate to itself");
            continue;
        }
        // Perstack loads such a delegate from its registry when the Expert runs; this
        // runtime has none, so the file loads and running the Expert fails.
        if !config.experts.contains_key(d) {
            let hint = did_you_mean(d, &defined)
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            sink.warn(
                &dpath,
                format!(
                    "delegate \"{d}\" is not defined in this file{hint}; Perstack would fetch it from its registry, which this runtime does not use: running \"{key}\" fails until [experts.\"{d}\"] is defined here (defined experts: {})",
                    defined.join(", ")
                ),
            );
        }
    }
}

fn is_tag(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}
