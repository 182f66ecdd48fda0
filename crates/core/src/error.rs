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
    /// A config, env file or lockfile path names a FIFO, device, folder or socket.
    #[error(
        "{path} is {what}, not a regular file; point the {kind} at a regular file (perstack reads its config, env files and lockfile only from regular files)"
    )]
    NotARegularFile {
        /// The path.
        path: PathBuf,
        /// Which input file it was meant to be.
        kind: crate::input_file::InputFile,
        /// What it is instead.
        what: &'static str,
    },
    /// A config, env file or lockfile is over its size cap.
    #[error(
        "{path} is larger than {cap} bytes, the most a {kind} may be; check that the path names the right file, and shrink it"
    )]
    InputFileTooLarge {
        /// The path.
        path: PathBuf,
        /// Which input file it is.
        kind: crate::input_file::InputFile,
        /// The cap in bytes.
        cap: u64,
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
