//! Where provider settings read environment variables from — injectable, so tests never
//! touch the process environment.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// A source of environment variables. Empty values count as unset.
pub trait EnvLookup {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment (read-only).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvLookup for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: BuildHasher> EnvLookup for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl EnvLookup for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<F: Fn(&str) -> Option<String>> EnvLookup for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// `env.var(name)`, with empty values treated as unset.
pub(crate) fn non_empty(env: &dyn EnvLookup, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.trim().is_empty())
}
