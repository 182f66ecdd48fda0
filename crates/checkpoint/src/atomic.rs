//! Crash-safe file replacement and appends, and the count of durable syncs they make.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StorageError;

/// Syscalls that cost a disk round trip, made through one [`crate::Storage`] (or one
/// standalone [`crate::EventLog`]): the counting hook behind [`SyncStats`].
#[derive(Debug, Default)]
pub(crate) struct SyncCounter {
    fsync: AtomicU64,
    fdatasync: AtomicU64,
    rename: AtomicU64,
    /// Files and folders written with [`Durability::Deferred`] whose `fsync` is owed: made
    /// before the next durable sync through this counter returns.
    owed: Mutex<Vec<PathBuf>>,
    /// The spare files [`Durability::Replaced`] writes go through.
    spares: crate::spare::Spares,
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

    /// `fsync` of `f` (after the syncs owed).
    fn sync_all(&self, f: &File, path: &Path) -> Result<(), StorageError> {
        self.pay_owed()?;
        self.fsync_now(f, path)
    }

    fn fsync_now(&self, f: &File, path: &Path) -> Result<(), StorageError> {
        self.fsync.fetch_add(1, Ordering::Relaxed);
        f.sync_all()
            .map_err(|e| StorageError::io("syncing", path, e))
    }

    /// `fdatasync` of `f` (after the syncs owed).
    pub(crate) fn sync_data(&self, f: &File, path: &Path) -> Result<(), StorageError> {
        self.pay_owed()?;
        self.fdatasync.fetch_add(1, Ordering::Relaxed);
        f.sync_data()
            .map_err(|e| StorageError::io("syncing", path, e))
    }

    /// Records that `path` (a file or folder) must be synced before the next durable sync.
    fn owe(&self, path: &Path) {
        let mut owed = crate::store::lock(&self.owed);
        if !owed.iter().any(|p| p == path) {
            owed.push(path.to_path_buf());
        }
    }

    /// Syncs what [`Durability::Deferred`] writes left owed, in the order they were written
    /// (a file before its folder). One that is gone since was replaced or removed: its folder,
    /// owed after it, carries what is there now.
    fn pay_owed(&self) -> Result<(), StorageError> {
        let owed = std::mem::take(&mut *crate::store::lock(&self.owed));
        for (i, path) in owed.iter().enumerate() {
            let result = match File::open(path) {
                Ok(f) => self.fsync_now(&f, path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(StorageError::io("syncing", path, e)),
            };
            if let Err(e) = result {
                // Still owed: the next durable sync tries again.
                let mut left = crate::store::lock(&self.owed);
                left.splice(0..0, owed[i..].iter().cloned());
                return Err(e);
            }
        }
        Ok(())
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
    /// Written into the folder's spare file and swapped with the target, no sync (see
    /// `spare.rs`: no inode is freed): a killed process leaves the old or the new file, but
    /// a power loss may lose the write (used for files rebuilt from the event log).
    Replaced,
    /// Temp file and rename now; the `fsync` of the file and of the folder (and of new
    /// folders' parents) is owed and made just before the next durable sync through the same
    /// counter (the first step's `fdatasync`), so creating a job or run costs no sync before
    /// the first LLM request yet is durable with the first durable step.
    Deferred,
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
    if durability == Durability::Replaced
        && let Some(done) = counter.spares.replace(dir, path, bytes, &counter.rename)
    {
        return done;
    }
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
            Durability::Deferred => {
                counter.rename(&tmp, path)?;
                counter.owe(path);
                counter.owe(dir);
                Ok(())
            }
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
    for d in created.iter().rev() {
        let Some(parent) = d.parent() else { continue };
        match durability {
            Durability::Synced => sync_dir(counter, parent)?,
            Durability::Deferred => counter.owe(parent),
            Durability::Replaced => {}
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
    if !existed {
        match durability {
            Durability::Synced => sync_dir(counter, dir)?,
            Durability::Deferred => counter.owe(dir),
            Durability::Replaced => {}
        }
    }
    Ok(f)
}
