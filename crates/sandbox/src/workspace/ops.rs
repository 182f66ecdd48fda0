//! File operations of the tools, each on a path resolved beneath the root.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, StatxFlags};
use rustix::io::Errno;

use super::Workspace;
use super::name::is_reserved_name;
use super::protect::{Access, file_id};
use super::resolve::{Resolved, Walk};
use super::sys::open_one;
use crate::error::{Result, SandboxError};

/// Deepest directory tree a recursive delete descends into.
const MAX_DEPTH: usize = 512;

/// What kind of entry a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (only reported by listings, which do not follow links).
    Symlink,
    /// A device, FIFO or socket.
    Other,
}

/// Metadata of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Absolute path (symbolic links resolved).
    pub path: PathBuf,
    /// Kind.
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Last modification.
    pub modified: SystemTime,
    /// Last access.
    pub accessed: SystemTime,
    /// Creation, where the file system records it.
    pub created: Option<SystemTime>,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntryInfo {
    /// File name (lossy UTF-8).
    pub name: String,
    /// Kind (links are not followed).
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification.
    pub modified: SystemTime,
}

/// How a write treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Create or overwrite; missing parent directories are created.
    Truncate,
    /// Append to a file that must exist.
    Append,
    /// Create; fail if anything exists.
    CreateNew,
}

impl Workspace {
    /// Reads a whole regular file of at most `max_bytes`.
    pub fn read_file(&self, path: &str, max_bytes: u64) -> Result<(PathBuf, Vec<u8>)> {
        let r = self.resolve(
            path,
            Walk {
                follow_final: true,
                create_parents: false,
            },
        )?;
        let name = r.name.as_deref().ok_or_else(|| is_dir(path))?;
        self.guard(path, &r.rel, None, Access::Read)?;
        let fd = open_one(
            self.mode,
            &r.parent,
            name,
            OFlags::RDONLY | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .map_err(|e| SandboxError::io("open", path, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| SandboxError::io("stat", path, e))?;
        self.guard(path, &r.rel, Some(file_id(&st)), Access::Read)?;
        let size = require_regular(&fd, path)?;
        if size > max_bytes {
            return Err(SandboxError::TooLarge {
                path: path.to_string(),
                size,
                limit: max_bytes,
            });
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        std::fs::File::from(fd)
            .take(max_bytes.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|source| SandboxError::Io {
                op: "read",
                path: path.to_string(),
                source,
            })?;
        if data.len() as u64 > max_bytes {
            // The file grew while we read it.
            return Err(SandboxError::TooLarge {
                path: path.to_string(),
                size: data.len() as u64,
                limit: max_bytes,
            });
        }
        Ok((self.display_path(&r), data))
    }

    /// Writes `data` to a file, within the quota.
    pub fn write_file(&self, path: &str, data: &[u8], mode: WriteMode) -> Result<PathBuf> {
        let create_parents = !matches!(mode, WriteMode::Append);
        let r = self.resolve(
            path,
            Walk {
                follow_final: true,
                create_parents,
            },
        )?;
        let name = r.name.as_deref().ok_or_else(|| is_dir(path))?;
        self.guard(path, &r.rel, None, Access::Write)?;
        let existing = match rustix::fs::statat(&r.parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(st),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(SandboxError::io("stat", path, e)),
        };
        if let Some(st) = &existing
            && FileType::from_raw_mode(st.st_mode) == FileType::Directory
        {
            return Err(is_dir(path));
        }
        if let Some(st) = &existing {
            self.check_writable(path, &r.rel, st)?;
        }
        let old_size = existing
            .as_ref()
            .map(|st| u64::try_from(st.st_size).unwrap_or(0));
        let new_size = match mode {
            WriteMode::Append => old_size.unwrap_or(0).saturating_add(data.len() as u64),
            WriteMode::Truncate | WriteMode::CreateNew => data.len() as u64,
        };
        self.check_quota(path, old_size, new_size)?;
        let flags = OFlags::WRONLY
            | OFlags::NONBLOCK
            | match mode {
                // Truncated below, once the open file is known to be safe to change.
                WriteMode::Truncate => OFlags::CREATE,
                WriteMode::Append => OFlags::APPEND,
                WriteMode::CreateNew => OFlags::CREATE | OFlags::EXCL,
            };
        let fd = open_one(
            self.mode,
            &r.parent,
            name,
            flags,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| SandboxError::io("open", path, e))?;
        require_regular(&fd, path)?;
        // Checked again on what was opened: a link made or a file swapped in since the stat.
        let st = rustix::fs::fstat(&fd).map_err(|e| SandboxError::io("stat", path, e))?;
        self.check_writable(path, &r.rel, &st)?;
        if mode == WriteMode::Truncate {
            rustix::fs::ftruncate(&fd, 0).map_err(|e| SandboxError::io("truncate", path, e))?;
        }
        let mut file = std::fs::File::from(fd);
        file.write_all(data)
            .and_then(|()| file.flush())
            .map_err(|source| SandboxError::Io {
                op: "write",
                path: path.to_string(),
                source,
            })?;
        Ok(self.display_path(&r))
    }

    /// Metadata of the entry at `path` (a final symbolic link is followed).
    pub fn metadata(&self, path: &str) -> Result<EntryInfo> {
        let r = self.resolve(
            path,
            Walk {
                follow_final: true,
                create_parents: false,
            },
        )?;
        let stx = statx_entry(&r, path)?;
        let ts = |t: rustix::fs::StatxTimestamp| {
            let secs = u64::try_from(t.tv_sec).unwrap_or(0);
            SystemTime::UNIX_EPOCH + Duration::new(secs, t.tv_nsec)
        };
        let created = (stx.stx_mask & StatxFlags::BTIME.bits() != 0).then(|| ts(stx.stx_btime));
        Ok(EntryInfo {
            path: self.display_path(&r),
            kind: kind_of(FileType::from_raw_mode(u32::from(stx.stx_mode))),
            size: stx.stx_size,
            mode: u32::from(stx.stx_mode) & 0o7777,
            modified: ts(stx.stx_mtime),
            accessed: ts(stx.stx_atime),
            created,
        })
    }

    /// Creates a directory (and its parents when `recursive`).
    pub fn create_dir(&self, path: &str, recursive: bool) -> Result<PathBuf> {
        let r = self.resolve(
            path,
            Walk {
                follow_final: false,
                create_parents: recursive,
            },
        )?;
        let name = r.name.as_deref().ok_or_else(|| exists(path))?;
        self.guard(path, &r.rel, None, Access::Write)?;
        self.check_quota_new_entry(path)?;
        rustix::fs::mkdirat(&r.parent, name, Mode::from_raw_mode(0o755))
            .map_err(|e| SandboxError::io("create directory", path, e))?;
        Ok(self.display_path(&r))
    }

    /// Deletes a file or symbolic link (never a directory).
    pub fn remove_file(&self, path: &str) -> Result<PathBuf> {
        let r = self.resolve(
            path,
            Walk {
                follow_final: false,
                create_parents: false,
            },
        )?;
        let name = r.name.as_deref().ok_or_else(|| is_dir(path))?;
        let st = rustix::fs::statat(&r.parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| SandboxError::io("stat", path, e))?;
        self.guard(path, &r.rel, Some(file_id(&st)), Access::Remove)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            return Err(is_dir(path));
        }
        rustix::fs::unlinkat(&r.parent, name, AtFlags::empty())
            .map_err(|e| SandboxError::io("delete", path, e))?;
        Ok(self.display_path(&r))
    }

    /// Deletes a directory; its contents too when `recursive`. Links inside are removed,
    /// never followed.
    pub fn remove_dir(&self, path: &str, recursive: bool) -> Result<PathBuf> {
        let r = self.resolve(
            path,
            Walk {
                follow_final: false,
                create_parents: false,
            },
        )?;
        let Some(name) = r.name.as_deref() else {
            return Err(SandboxError::InvalidPath {
                path: path.to_string(),
                reason: "the workspace root cannot be deleted",
            });
        };
        let st = rustix::fs::statat(&r.parent, name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| SandboxError::io("stat", path, e))?;
        self.guard(path, &r.rel, Some(file_id(&st)), Access::Remove)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Err(SandboxError::NotADirectory {
                path: path.to_string(),
            });
        }
        if recursive {
            let dir = self.open_dir_fd(&r.parent, name, path)?;
            self.remove_contents(&dir, path, 0)?;
        }
        rustix::fs::unlinkat(&r.parent, name, AtFlags::REMOVEDIR)
            .map_err(|e| SandboxError::io("delete directory", path, e))?;
        Ok(self.display_path(&r))
    }

    fn remove_contents(&self, dir: &OwnedFd, path: &str, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(SandboxError::InvalidPath {
                path: path.to_string(),
                reason: "directory tree too deep",
            });
        }
        for (name, ft) in list_names(dir, path)? {
            if ft == FileType::Directory {
                let sub = self.open_dir_fd(dir, &name, path)?;
                self.remove_contents(&sub, path, depth + 1)?;
                rustix::fs::unlinkat(dir, name.as_slice(), AtFlags::REMOVEDIR)
            } else {
                rustix::fs::unlinkat(dir, name.as_slice(), AtFlags::empty())
            }
            .map_err(|e| SandboxError::io("delete", path, e))?;
        }
        Ok(())
    }

    /// Moves a file or directory; the destination must not exist. Missing destination
    /// directories are created.
    pub fn rename(&self, source: &str, destination: &str) -> Result<(PathBuf, PathBuf)> {
        let from = self.resolve(
            source,
            Walk {
                follow_final: false,
                create_parents: false,
            },
        )?;
        let from_name = from
            .name
            .as_deref()
            .ok_or_else(|| SandboxError::InvalidPath {
                path: source.to_string(),
                reason: "the workspace root cannot be moved",
            })?;
        let st = rustix::fs::statat(&from.parent, from_name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| SandboxError::io("stat", source, e))?;
        self.guard(source, &from.rel, Some(file_id(&st)), Access::Remove)?;
        let to = self.resolve(
            destination,
            Walk {
                follow_final: false,
                create_parents: true,
            },
        )?;
        let to_name = to.name.as_deref().ok_or_else(|| exists(destination))?;
        self.guard(destination, &to.rel, None, Access::Remove)?;
        rustix::fs::renameat_with(
            &from.parent,
            from_name,
            &to.parent,
            to_name,
            RenameFlags::NOREPLACE,
        )
        .map_err(|e| match e {
            Errno::EXIST => exists(destination),
            other => SandboxError::io("move", source, other),
        })?;
        Ok((self.display_path(&from), self.display_path(&to)))
    }

    /// Lists a directory, sorted by name; `perstack/` is left out at the top level.
    pub fn list_dir(&self, path: &str) -> Result<(PathBuf, Vec<DirEntryInfo>)> {
        let r = self.resolve(
            path,
            Walk {
                follow_final: true,
                create_parents: false,
            },
        )?;
        let dir = match r.name.as_deref() {
            Some(name) => self.open_dir_fd(&r.parent, name, path)?,
            None => rustix::fs::openat(
                &r.parent,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| SandboxError::io("open directory", path, e))?,
        };
        let at_root = r.rel.is_empty();
        let mut out = Vec::new();
        for (name, _) in list_names(&dir, path)? {
            if at_root && is_reserved_name(&name) {
                continue;
            }
            let st = match rustix::fs::statat(&dir, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // Deleted since the listing was read.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(SandboxError::io("stat", path, e)),
            };
            let secs = u64::try_from(st.st_mtime).unwrap_or(0);
            let nanos = u32::try_from(st.st_mtime_nsec).unwrap_or(0);
            out.push(DirEntryInfo {
                name: String::from_utf8_lossy(&name).into_owned(),
                kind: kind_of(FileType::from_raw_mode(st.st_mode)),
                size: u64::try_from(st.st_size).unwrap_or(0),
                modified: SystemTime::UNIX_EPOCH + Duration::new(secs, nanos),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((self.display_path(&r), out))
    }

    /// The absolute path of an existing directory inside the workspace (e.g. a child's cwd).
    pub fn dir_path(&self, path: &str) -> Result<PathBuf> {
        let r = self.resolve(
            path,
            Walk {
                follow_final: true,
                create_parents: false,
            },
        )?;
        if let Some(name) = r.name.as_deref() {
            self.open_dir_fd(&r.parent, name, path)?;
        }
        Ok(self.display_path(&r))
    }

    fn open_dir_fd(&self, parent: impl AsFd, name: &[u8], path: &str) -> Result<OwnedFd> {
        open_one(
            self.mode,
            parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )
        .map_err(|e| match e {
            // O_NOFOLLOW on a link yields ELOOP; O_DIRECTORY on a file ENOTDIR.
            Errno::LOOP | Errno::NOTDIR => SandboxError::NotADirectory {
                path: path.to_string(),
            },
            other => SandboxError::io("open directory", path, other),
        })
    }
}

/// Names and types in a directory opened for reading, without `.` and `..`.
pub(crate) fn list_names(dir: &OwnedFd, path: &str) -> Result<Vec<(Vec<u8>, FileType)>> {
    let mut out = Vec::new();
    let reader = rustix::fs::Dir::read_from(dir).map_err(|e| SandboxError::io("list", path, e))?;
    for entry in reader {
        let entry = entry.map_err(|e| SandboxError::io("list", path, e))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let mut ft = entry.file_type();
        if ft == FileType::Unknown {
            ft = rustix::fs::statat(dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode))
                .unwrap_or(FileType::Unknown);
        }
        out.push((name.to_vec(), ft));
    }
    Ok(out)
}

fn statx_entry(r: &Resolved, path: &str) -> Result<rustix::fs::Statx> {
    let mask = StatxFlags::BASIC_STATS | StatxFlags::BTIME;
    let res = match r.name.as_deref() {
        Some(name) => rustix::fs::statx(&r.parent, name, AtFlags::SYMLINK_NOFOLLOW, mask),
        None => rustix::fs::statx(&r.parent, "", AtFlags::EMPTY_PATH, mask),
    };
    res.map_err(|e| SandboxError::io("stat", path, e))
}

/// Refuses anything but a regular file (a FIFO or device would block or misbehave);
/// returns its size.
fn require_regular(fd: &OwnedFd, path: &str) -> Result<u64> {
    let st = rustix::fs::fstat(fd).map_err(|e| SandboxError::io("stat", path, e))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Ok(u64::try_from(st.st_size).unwrap_or(0)),
        FileType::Directory => Err(is_dir(path)),
        FileType::Symlink
        | FileType::Fifo
        | FileType::CharacterDevice
        | FileType::BlockDevice
        | FileType::Socket
        | FileType::Unknown => Err(SandboxError::InvalidPath {
            path: path.to_string(),
            reason: "not a regular file",
        }),
    }
}

fn kind_of(ft: FileType) -> EntryKind {
    match ft {
        FileType::RegularFile => EntryKind::File,
        FileType::Directory => EntryKind::Directory,
        FileType::Symlink => EntryKind::Symlink,
        FileType::Fifo
        | FileType::CharacterDevice
        | FileType::BlockDevice
        | FileType::Socket
        | FileType::Unknown => EntryKind::Other,
    }
}

fn is_dir(path: &str) -> SandboxError {
    SandboxError::IsADirectory {
        path: path.to_string(),
    }
}

fn exists(path: &str) -> SandboxError {
    SandboxError::AlreadyExists {
        path: path.to_string(),
    }
}
