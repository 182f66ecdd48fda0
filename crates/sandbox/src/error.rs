//! The one error type of this crate.

use std::path::PathBuf;

/// Everything the sandbox can refuse or fail at. Each variant says what the caller can do.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The path leads outside the workspace; use a path inside it.
    #[error("access denied: {path} is outside the workspace")]
    OutsideWorkspace {
        /// The path as given.
        path: String,
    },
    /// The path names the runtime's own `perstack/` folder, which tools can never see.
    #[error("access denied: {path} is reserved for the runtime (perstack directory)")]
    Reserved {
        /// The path as given.
        path: String,
    },
    /// The path is one of the run's own policy files (config, env file, lockfile): tools
    /// may not change it (nor read an env file); the operator edits it outside the sandbox.
    #[error(
        "access denied: {path} is {what}; the agent may not change it (nor read an env file), \
         edit it outside the agent's sandbox"
    )]
    Protected {
        /// The path as given.
        path: String,
        /// Which policy file it is.
        what: &'static str,
    },
    /// The file has more than one hard link, so writing it could change a file outside the
    /// workspace.
    #[error(
        "refusing to write {path}: it has {links} hard links, so the write could change a file \
         outside the workspace; write a new file instead, or remove the other links first"
    )]
    HardLinked {
        /// The path as given.
        path: String,
        /// Its link count.
        links: u64,
    },
    /// The path is malformed or uses characters that are refused (NUL, control or bidi marks).
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Nothing exists at the path.
    #[error("{path} does not exist")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// Something already exists at the path.
    #[error("{path} already exists")]
    AlreadyExists {
        /// The path as given.
        path: String,
    },
    /// A directory was expected.
    #[error("{path} is not a directory")]
    NotADirectory {
        /// The path as given.
        path: String,
    },
    /// A file was expected but the path is a directory.
    #[error("{path} is a directory")]
    IsADirectory {
        /// The path as given.
        path: String,
    },
    /// The directory is not empty; delete it recursively.
    #[error("directory {path} is not empty")]
    DirectoryNotEmpty {
        /// The path as given.
        path: String,
    },
    /// Too many symbolic links were followed.
    #[error("too many levels of symbolic links in {path}")]
    TooManySymlinks {
        /// The path as given.
        path: String,
    },
    /// The file is larger than the operation allows.
    #[error("{path} is too large ({size} bytes; the limit is {limit} bytes)")]
    TooLarge {
        /// The path as given.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A write would pass the operator's workspace quota.
    #[error("workspace quota exceeded: {detail} (limit {limit_name} = {limit})")]
    QuotaExceeded {
        /// Which limit (`maxBytes` or `maxFiles`).
        limit_name: &'static str,
        /// The limit's value.
        limit: u64,
        /// What the write would have done.
        detail: String,
    },
    /// A system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path as given.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The workspace root itself cannot be opened.
    #[error("cannot open workspace {root}: {source}")]
    WorkspaceRoot {
        /// The root given.
        root: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A variable a skill declares in `requiredEnv` is not set.
    #[error(
        "required environment variable {name} is not set (declared in requiredEnv of skill {skill})"
    )]
    MissingEnv {
        /// The variable.
        name: String,
        /// The skill that requires it.
        skill: String,
    },
    /// A variable may not be passed to a child through `requiredEnv` or `exec`'s `env`.
    #[error("environment variable {name} cannot be passed to a child process: {reason}")]
    ProtectedEnv {
        /// The variable.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The network guard refused a URL or an address.
    #[error("network access refused: {0}")]
    Network(#[from] crate::net::Refusal),
    /// A confinement layer that the operator requires could not be enforced.
    #[error("confinement not enforced ({layer}): {reason}")]
    Confinement {
        /// Which layer (`landlock`, `seccomp`, `no_new_privs`).
        layer: &'static str,
        /// Why.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, SandboxError>;

impl SandboxError {
    /// Wraps an OS error met while doing `op` on `path`, mapping the common errnos to
    /// the specific variants.
    pub(crate) fn io(op: &'static str, path: &str, err: rustix::io::Errno) -> Self {
        use rustix::io::Errno;
        let path = path.to_string();
        match err {
            Errno::NOENT => SandboxError::NotFound { path },
            Errno::EXIST => SandboxError::AlreadyExists { path },
            Errno::NOTDIR => SandboxError::NotADirectory { path },
            Errno::ISDIR => SandboxError::IsADirectory { path },
            Errno::NOTEMPTY => SandboxError::DirectoryNotEmpty { path },
            // EXDEV from RESOLVE_BENEATH means the kernel saw an escape.
            Errno::XDEV => SandboxError::OutsideWorkspace { path },
            Errno::LOOP => SandboxError::TooManySymlinks { path },
            other => SandboxError::Io {
                op,
                path,
                source: std::io::Error::from_raw_os_error(other.raw_os_error()),
            },
        }
    }
}
