//! Files of the run's own policy that sit in the workspace (the config file, env files, the
//! lockfile): read-only to the file tools, and env files unreadable, so the agent cannot
//! point the provider elsewhere or drop `requireApproval` for the next run, nor read keys.
//!
//! A protected file is recognised two ways: by its path below the root (so a missing
//! lockfile cannot be created, and a folder holding a protected file cannot be moved or
//! deleted) and by its device and inode (so another spelling of the same file, on a
//! case-folding file system say, is caught too).

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Workspace;
use crate::error::{Result, SandboxError};

/// What a protected file is to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectedRole {
    /// The config file (`perstack.toml`): provider, models, `requireApproval`.
    Config,
    /// An env file (`.env`, `--env-path`): holds credentials, so unreadable too.
    EnvFile,
    /// The lockfile (`perstack.lock`).
    Lockfile,
}

impl ProtectedRole {
    /// Whether tools may not even read it.
    pub fn is_secret(self) -> bool {
        matches!(self, ProtectedRole::EnvFile)
    }

    /// How error messages name it.
    pub fn describe(self) -> &'static str {
        match self {
            ProtectedRole::Config => "the config file in use",
            ProtectedRole::EnvFile => "an env file in use (it holds credentials)",
            ProtectedRole::Lockfile => "the lockfile in use",
        }
    }
}

/// A file the tools must leave alone, by absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedFile {
    /// The file (need not exist; links in its folder are resolved).
    pub path: PathBuf,
    /// What it is.
    pub role: ProtectedRole,
}

impl ProtectedFile {
    /// A protected file.
    pub fn new(path: impl Into<PathBuf>, role: ProtectedRole) -> Self {
        ProtectedFile {
            path: path.into(),
            role,
        }
    }

    /// The path with links resolved: the file itself when it exists, else its folder.
    pub fn canonical(&self) -> Option<PathBuf> {
        if let Ok(p) = std::fs::canonicalize(&self.path) {
            return Some(p);
        }
        let parent = std::fs::canonicalize(self.path.parent()?).ok()?;
        Some(parent.join(self.path.file_name()?))
    }
}

/// A protected file as the workspace knows it.
#[derive(Debug, Clone)]
pub(crate) struct Guarded {
    rel: Vec<Vec<u8>>,
    id: Option<(u64, u64)>,
    role: ProtectedRole,
}

/// What a tool is about to do to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read its content.
    Read,
    /// Write, create or truncate it.
    Write,
    /// Delete or move it (or a folder holding it), or move something onto its path.
    Remove,
}

impl Workspace {
    /// Protects `files` (those outside the workspace are ignored: the boundary already
    /// keeps tools off them).
    pub fn with_protected(mut self, files: &[ProtectedFile]) -> Self {
        for f in files {
            let Some(path) = f.canonical() else {
                continue;
            };
            let Ok(rest) = path.strip_prefix(&self.root_path) else {
                continue;
            };
            let rel: Vec<Vec<u8>> = rest
                .components()
                .map(|c| c.as_os_str().as_bytes().to_vec())
                .collect();
            if rel.is_empty() {
                continue;
            }
            let id = std::fs::metadata(&path).ok().map(|m| (m.dev(), m.ino()));
            self.protected.push(Guarded {
                rel,
                id,
                role: f.role,
            });
        }
        self
    }

    /// Refuses `access` to the entry at `rel` (with device and inode `id` when it exists).
    pub(crate) fn guard(
        &self,
        path: &str,
        rel: &[Vec<u8>],
        id: Option<(u64, u64)>,
        access: Access,
    ) -> Result<()> {
        for g in &self.protected {
            let same = g.rel.as_slice() == rel || (id.is_some() && g.id == id);
            let holds = access == Access::Remove && g.rel.starts_with(rel);
            let refused = match access {
                Access::Read => same && g.role.is_secret(),
                Access::Write => same,
                Access::Remove => same || holds,
            };
            if refused {
                return Err(SandboxError::Protected {
                    path: path.to_string(),
                    what: g.role.describe(),
                });
            }
        }
        Ok(())
    }
}

impl Workspace {
    /// Refuses writing the existing entry `st`: a protected file, or a regular file with more
    /// than one hard link (its other names may lie outside the workspace).
    pub(crate) fn check_writable(
        &self,
        path: &str,
        rel: &[Vec<u8>],
        st: &rustix::fs::Stat,
    ) -> Result<()> {
        self.guard(path, rel, Some(file_id(st)), Access::Write)?;
        let links = link_count(st);
        if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
            && links > 1
        {
            return Err(SandboxError::HardLinked {
                path: path.to_string(),
                links,
            });
        }
        Ok(())
    }
}

#[allow(clippy::useless_conversion)]
fn link_count(st: &rustix::fs::Stat) -> u64 {
    // u32 on some architectures.
    u64::from(st.st_nlink)
}

/// Device and inode of a stat result.
pub(crate) fn file_id(st: &rustix::fs::Stat) -> (u64, u64) {
    #[allow(clippy::useless_conversion)]
    (u64::from(st.st_dev), u64::from(st.st_ino))
}

/// The canonical form of each protected file inside `root`, for the confinement layer.
pub fn inside(root: &Path, files: &[ProtectedFile]) -> Vec<(PathBuf, ProtectedRole)> {
    let Ok(root) = std::fs::canonicalize(root) else {
        return Vec::new();
    };
    files
        .iter()
        .filter_map(|f| {
            let p = f.canonical()?;
            (p.starts_with(&root) && p != root).then_some((p, f.role))
        })
        .collect()
}
