//! The crate's error type.

use std::path::PathBuf;

use crate::config::Diagnostics;

/// Everything perstack-core can fail with; each variant says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// No `perstack.toml` in the folder or any parent.
    #[error(
        "no perstack.toml found in {start} or any parent folder; create one (see examples/) or pass --config PATH"
    )]
    ConfigNotFound {
        /// Where the search started.
        start: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}; check that it exists and is readable")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The config has errors; each diagnostic names file, line, column and key path.
    #[error("{0}")]
    InvalidConfig(Diagnostics),
    /// An env file has a line that is not `KEY=VALUE`.
    #[error("{path}:{line}: {message}")]
    InvalidEnvFile {
        /// The env file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong and how to write it.
        message: String,
    },
    /// An expert key does not have the `name`, `name@1.2.3` or `@scope/name@tag` shape.
    #[error("invalid expert key \"{key}\": {reason}")]
    InvalidExpertKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The requested expert is not in the config.
    #[error("expert \"{key}\" is not defined in {config}; defined experts: {available}")]
    UnknownExpert {
        /// The requested key.
        key: String,
        /// The config file.
        config: String,
        /// Comma-separated list of defined keys.
        available: String,
    },
    /// An `--egress` / `PERSTACK_EGRESS` value, or a URL it cannot route.
    #[error("invalid egress {value:?}: {reason}; use unix:///path/to/perstack-proxy.sock")]
    InvalidEgress {
        /// The value or URL.
        value: String,
        /// What is wrong.
        reason: String,
    },
}
