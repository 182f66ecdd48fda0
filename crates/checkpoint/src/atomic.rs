//! Crash-safe file replacement and appends, and the count of durable syncs they make.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StorageError;

/// Syscalls that cost a disk round trip, made through one [`crate::Storage`] (or one
/// standalone [`crate::EventLog`]): the counting hook behind [`SyncStats`].
#[derive(Debug, Default)]
pub(crate) struct SyncCounter {
    fsync: AtomicU64,
    fdatasync: AtomicU64,
    rename: AtomicU64,
}

/// How many durable syncs and renames storage made (see `docs/storage.md`, "Crash safety").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// `fsync` calls (files and folders).
    pub fsync: u64,
    /// `fdatasync` calls.
    pub fdatasync: u64,
    /// `rename` calls (not syncs: they replace a file without making it durable).
    pub rename: u64,
}

impl SyncStats {
    /// Durable syncs of any kind (`fsync` + `fdatasync`).
    pub fn syncs(&self) -> u64 {
        self.fsync + self.fdatasync
    }
}

impl SyncCounter {
    pub(crate) fn stats(&self) -> SyncStats {
        SyncStats {
            fsync: self.fsync.load(Ordering::Relaxed),
            fdatasync: self.fdatasync.load(Ordering::Relaxed),
            rename: self.rename.load(Ordering::Relaxed),
        }
    }

    /// `fsync` of `f`.
    fn sync_all(&self, f: &File, path: &Path) -> Result<(), StorageError> {
        self.fsync.fetch_add(1, Ordering::Relaxed);
        f.sync_all()
            .map_err(|e| StorageError::io("syncing", path, e))
    }

    /// `fdatasync` of `f`.
    pub(crate) fn sync_data(&self, f: &File, path: &Path) -> Result<(), StorageError> {
        self.fdatasync.fetch_add(1, Ordering::Relaxed);
        f.sync_data()
            .map_err(|e| StorageError::io("syncing", path, e))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), StorageError> {
        self.rename.fetch_add(1, Ordering::Relaxed);
        std::fs::rename(from, to).map_err(|e| StorageError::io("renaming into", to, e))
    }
}

/// How a file is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Temp file, fsync, rename, fsync of the folder: on disk when this returns, even
    /// across a power loss.
    Synced,
    /// Temp file and rename, no sync: a killed process leaves the old or the new file, but a
    /// power loss may lose the write (used for files rebuilt from the event log).
    Replaced,
}

/// Replaces `path` with `bytes` so that a killed process leaves either the old or the new
/// content: write a temp file in the same folder and rename it over the target; with
/// [`Durability::Synced`], fsync the file before and the folder after the rename.
pub(crate) fn write_atomic(
    counter: &SyncCounter,
    path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    crate::layout::refuse_link(dir)?;
    create_dirs(counter, dir, durability)?;
    let mut suffix = [0u8; 8];
    // A clash only costs a retry by the caller; the pid keeps concurrent writers apart.
    let _ = getrandom::fill(&mut suffix);
    let tmp = dir.join(format!(
        ".tmp-{}-{:016x}",
        std::process::id(),
        u64::from_le_bytes(suffix)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| StorageError::io("creating", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| StorageError::io("writing", &tmp, e))?;
        match durability {
            Durability::Synced => {
                counter.sync_all(&f, &tmp)?;
                counter.rename(&tmp, path)?;
                sync_dir(counter, dir)
            }
            Durability::Replaced => counter.rename(&tmp, path),
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename or file creation in `dir` durable.
pub(crate) fn sync_dir(counter: &SyncCounter, dir: &Path) -> Result<(), StorageError> {
    let d = File::open(dir).map_err(|e| StorageError::io("syncing folder", dir, e))?;
    counter.sync_all(&d, dir)
}

/// `create_dir_all` with context.
pub(crate) fn create_dir_all(dir: &Path) -> Result<(), StorageError> {
    std::fs::create_dir_all(dir).map_err(|e| StorageError::io("creating folder", dir, e))
}

/// Creates `dir` and the folders above it that are missing; with [`Durability::Synced`],
/// each new entry is made durable (the parent of every created folder is synced), so a file
/// synced inside `dir` cannot vanish with a folder the power loss forgot.
fn create_dirs(
    counter: &SyncCounter,
    dir: &Path,
    durability: Durability,
) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    let created: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    create_dir_all(dir)?;
    if durability == Durability::Synced {
        for d in created.iter().rev() {
            if let Some(parent) = d.parent() {
                sync_dir(counter, parent)?;
            }
        }
    }
    Ok(())
}

/// Opens `path` for appending, creating it if needed; with [`Durability::Synced`] a
/// creation is made durable (fsync of the folder).
pub(crate) fn open_append(
    counter: &SyncCounter,
    path: &Path,
    durability: Durability,
) -> Result<File, StorageError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    crate::layout::refuse_link(dir)?;
    create_dirs(counter, dir, durability)?;
    crate::layout::refuse_link(path)?;
    let existed = path.exists();
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        // A link planted after the check above is not followed either (ELOOP).
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| StorageError::io("opening", path, e))?;
    if !existed && durability == Durability::Synced {
        sync_dir(counter, dir)?;
    }
    Ok(f)
}
