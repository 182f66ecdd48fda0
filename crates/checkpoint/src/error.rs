//! The crate's error type.

use std::path::PathBuf;

/// Storage failures; each says which file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file or folder could not be read or written.
    #[error("{action} {path}: {source}; check permissions and free disk space")]
    Io {
        /// What was being done ("writing", "reading", ...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A stored file is not what it should be (edited, truncated, or from another version).
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No such job.
    #[error("job \"{job_id}\" not found under {root}; list jobs with `perstack jobs`")]
    JobNotFound {
        /// The id asked for.
        job_id: String,
        /// The storage root.
        root: PathBuf,
    },
    /// No such checkpoint.
    #[error("checkpoint \"{checkpoint_id}\" not found in job \"{job_id}\"")]
    CheckpointNotFound {
        /// The job.
        job_id: String,
        /// The id asked for.
        checkpoint_id: String,
    },
    /// An id that cannot be a file name (path separators, dots, empty).
    #[error("invalid {what} \"{id}\": ids are letters, digits, '-' and '_'")]
    InvalidId {
        /// "job id", "run id" or "checkpoint id".
        what: &'static str,
        /// The id.
        id: String,
    },
    /// `--state-dir` names the workspace, a folder inside it, or a folder containing it.
    #[error(
        "state folder {dir} overlaps the workspace {workspace}; it must lie outside the \
         workspace (e.g. ~/.local/state/perstack), where exec children and skills cannot write"
    )]
    StateDirInWorkspace {
        /// The state folder, resolved.
        dir: PathBuf,
        /// The workspace, resolved.
        workspace: PathBuf,
    },
    /// A storage folder or file is a symbolic link (planted by a tool or a child process?).
    #[error(
        "{path} is a symbolic link; storage is never followed through a link (it could lead \
         outside the workspace or expose the storage under another name). Remove the link (move \
         the real folder into its place if it is yours) and run again"
    )]
    Link {
        /// The link.
        path: PathBuf,
    },
    /// A value could not be serialized (should not happen for our own types).
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        /// What.
        what: &'static str,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
}

impl StorageError {
    /// An I/O error with context.
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        StorageError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
