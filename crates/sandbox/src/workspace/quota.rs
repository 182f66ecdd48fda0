//! The operator's workspace quota (bytes and file count), checked before every write.

use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::Workspace;
use super::name::is_reserved_name;
use super::ops::list_names;
use super::sys::open_one;
use crate::error::{Result, SandboxError};

/// Limits on the workspace's content (the runtime's `perstack/` folder is not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Total bytes of regular files.
    pub max_bytes: Option<u64>,
    /// Number of entries (files, directories, links).
    pub max_files: Option<u64>,
}

/// What the workspace holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Total bytes of regular files.
    pub bytes: u64,
    /// Number of entries.
    pub files: u64,
}

impl Workspace {
    /// Measures the workspace (without following links, without `perstack/`).
    pub fn usage(&self) -> Result<Usage> {
        let mut usage = Usage::default();
        let root = rustix::fs::openat(
            &self.root,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SandboxError::io("open directory", ".", e))?;
        let mut pending: Vec<(OwnedFd, bool)> = vec![(root, true)];
        while let Some((dir, at_root)) = pending.pop() {
            for (name, ft) in list_names(&dir, ".")? {
                if at_root && is_reserved_name(&name) {
                    continue;
                }
                usage.files += 1;
                match ft {
                    FileType::Directory => {
                        // A directory replaced since the listing is skipped, not followed.
                        if let Ok(sub) = open_one(
                            self.mode,
                            &dir,
                            &name,
                            OFlags::RDONLY | OFlags::DIRECTORY,
                            Mode::empty(),
                        ) {
                            pending.push((sub, false));
                        }
                    }
                    FileType::RegularFile => {
                        if let Ok(st) =
                            rustix::fs::statat(&dir, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
                        {
                            usage.bytes = usage
                                .bytes
                                .saturating_add(u64::try_from(st.st_size).unwrap_or(0));
                        }
                    }
                    FileType::Symlink
                    | FileType::Fifo
                    | FileType::CharacterDevice
                    | FileType::BlockDevice
                    | FileType::Socket
                    | FileType::Unknown => {}
                }
            }
        }
        Ok(usage)
    }

    /// Refuses a write that turns a file of `old_size` (None: new file) into `new_size` bytes
    /// if the result would pass the quota.
    pub(crate) fn check_quota(
        &self,
        path: &str,
        old_size: Option<u64>,
        new_size: u64,
    ) -> Result<()> {
        if self.quota.max_bytes.is_none() && self.quota.max_files.is_none() {
            return Ok(());
        }
        let usage = self.usage()?;
        if let Some(limit) = self.quota.max_bytes {
            let after = usage
                .bytes
                .saturating_sub(old_size.unwrap_or(0))
                .saturating_add(new_size);
            if after > limit && new_size > old_size.unwrap_or(0) {
                return Err(SandboxError::QuotaExceeded {
                    limit_name: "maxBytes",
                    limit,
                    detail: format!(
                        "writing {new_size} bytes to {path} would bring the workspace to {after} bytes"
                    ),
                });
            }
        }
        if old_size.is_none() {
            self.check_files(path, usage)?;
        }
        Ok(())
    }

    /// Refuses creating one more entry past `maxFiles`.
    pub(crate) fn check_quota_new_entry(&self, path: &str) -> Result<()> {
        if self.quota.max_files.is_none() {
            return Ok(());
        }
        let usage = self.usage()?;
        self.check_files(path, usage)
    }

    fn check_files(&self, path: &str, usage: Usage) -> Result<()> {
        if let Some(limit) = self.quota.max_files
            && usage.files.saturating_add(1) > limit
        {
            return Err(SandboxError::QuotaExceeded {
                limit_name: "maxFiles",
                limit,
                detail: format!(
                    "creating {path} would bring the workspace to {} entries",
                    usage.files + 1
                ),
            });
        }
        Ok(())
    }
}
