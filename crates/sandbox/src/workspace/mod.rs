//! The workspace boundary: every path a tool receives is resolved beneath the workspace root
//! and cannot escape it, and `<workspace>/perstack/` is invisible and untouchable.

mod name;
mod ops;
mod protect;
mod quota;
mod resolve;
mod sys;

use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};

pub use name::{RESERVED_DIR, is_reserved_name};
pub use ops::{DirEntryInfo, EntryInfo, EntryKind, WriteMode};
pub use protect::{ProtectedFile, ProtectedRole, inside as protected_inside};
pub use quota::{Quota, Usage};
pub use sys::ResolveMode;

use crate::error::{Result, SandboxError};

/// A workspace root held open; all file operations of the tools go through it.
#[derive(Debug)]
pub struct Workspace {
    root: OwnedFd,
    root_path: PathBuf,
    given_path: PathBuf,
    mode: ResolveMode,
    quota: Quota,
    protected: Vec<protect::Guarded>,
}

impl Workspace {
    /// Opens `root` (which must be an existing directory), probing for `openat2`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(root, None)
    }

    /// Opens `root` with a forced resolution mode (`None` probes the kernel). Forcing
    /// [`ResolveMode::NoFollowWalk`] exercises the fallback on kernels that have `openat2`.
    pub fn open_with(root: impl AsRef<Path>, mode: Option<ResolveMode>) -> Result<Self> {
        let given = root.as_ref();
        let root_err = |source: std::io::Error| SandboxError::WorkspaceRoot {
            root: given.to_path_buf(),
            source,
        };
        let canonical = std::fs::canonicalize(given).map_err(root_err)?;
        let fd = rustix::fs::open(
            &canonical,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| root_err(e.into()))?;
        let mode = mode.unwrap_or_else(|| sys::detect(fd.as_fd()));
        let given_path = if given.is_absolute() {
            given.to_path_buf()
        } else {
            canonical.clone()
        };
        Ok(Workspace {
            root: fd,
            root_path: canonical,
            given_path,
            mode,
            quota: Quota::default(),
            protected: Vec::new(),
        })
    }

    /// Sets the operator's quota, checked by every write.
    pub fn with_quota(mut self, quota: Quota) -> Self {
        self.quota = quota;
        self
    }

    /// The canonical absolute path of the root.
    pub fn root(&self) -> &Path {
        &self.root_path
    }

    /// How components are opened on this kernel.
    pub fn resolve_mode(&self) -> ResolveMode {
        self.mode
    }

    /// The quota in force.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// The absolute path `input` designates, after checking that it stays inside the
    /// workspace (symbolic links resolved). The entry need not exist.
    pub fn check_path(&self, input: &str) -> Result<PathBuf> {
        let resolved = self.resolve(
            input,
            resolve::Walk {
                follow_final: true,
                create_parents: false,
            },
        )?;
        Ok(self.display_path(&resolved))
    }

    fn roots(&self) -> [&Path; 2] {
        [self.root_path.as_path(), self.given_path.as_path()]
    }
}
