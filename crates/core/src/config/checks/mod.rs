//! Semantic checks that a schema cannot express: cross-references, URL rules, tool-name
//! collisions, embedded JSON Schemas, and warnings about secrets and lengths.

mod compat;
mod experts;
mod skills;
mod text;
mod tools;
mod urls;

use super::diagnostic::{Diagnostic, KeyPath, Severity};
use super::model::PerstackConfig;
use super::source::SourceMap;

/// Collects diagnostics with their locations.
pub(crate) struct Sink<'a> {
    pub map: &'a SourceMap,
    pub out: Vec<Diagnostic>,
}

impl Sink<'_> {
    /// An error located at the value of `path`.
    pub fn error(&mut self, path: &KeyPath, message: impl Into<String>) {
        let d = self
            .map
            .diag_at_value(Severity::Error, path, message.into());
        self.out.push(d);
    }

    /// An error located at the key of `path` (for problems with the table itself).
    pub fn error_at_key(&mut self, path: &KeyPath, message: impl Into<String>) {
        let d = self
            .map
            .diag_at_key(Severity::Error, path, path, message.into());
        self.out.push(d);
    }

    /// A warning located at the value of `path`.
    pub fn warn(&mut self, path: &KeyPath, message: impl Into<String>) {
        let d = self
            .map
            .diag_at_value(Severity::Warning, path, message.into());
        self.out.push(d);
    }

    /// A warning located where `needle` occurs inside the value of `path`, else at the value.
    pub fn warn_at_text(&mut self, path: &KeyPath, needle: &str, message: impl Into<String>) {
        let d = self
            .map
            .diag_at_substring(Severity::Warning, path, needle, message.into());
        self.out.push(d);
    }
}

/// Runs every semantic check over a structurally valid config.
pub(crate) fn run(config: &PerstackConfig, map: &SourceMap) -> Vec<Diagnostic> {
    let mut sink = Sink {
        map,
        out: Vec::new(),
    };
    let root = KeyPath::root();
    urls::check_top_level(config, &root, &mut sink);
    text::check_provider_setting(config, &root, &mut sink);
    compat::check_provider_env_path(config, &root, &mut sink);
    for (key, expert) in &config.experts {
        let path = root.field("experts").key(key);
        experts::check(config, key, expert, &path, &mut sink);
        text::check_expert(expert, &path, &mut sink);
        compat::check_tool_names(expert, &path, &mut sink);
        if let Some(skills) = &expert.skills {
            for (name, skill) in skills {
                skills::check(name, skill, &path.field("skills").key(name), &mut sink);
            }
        }
        tools::check_collisions(config, expert, &path, &mut sink);
    }
    sink.out
}
