//! Crash-safe file replacement and appends.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::StorageError;

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content:
/// write a temp file in the same folder, fsync it, rename over the target, fsync the folder.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    crate::layout::refuse_link(dir)?;
    create_dir_all(dir)?;
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
        f.sync_all()
            .map_err(|e| StorageError::io("syncing", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| StorageError::io("renaming into", path, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename or file creation in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io("syncing folder", dir, e))
}

/// `create_dir_all` with context.
pub(crate) fn create_dir_all(dir: &Path) -> Result<(), StorageError> {
    std::fs::create_dir_all(dir).map_err(|e| StorageError::io("creating folder", dir, e))
}

/// Opens `path` for appending, creating it (and making the creation durable) if needed.
pub(crate) fn open_append(path: &Path) -> Result<File, StorageError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    crate::layout::refuse_link(dir)?;
    create_dir_all(dir)?;
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
        sync_dir(dir)?;
    }
    Ok(f)
}
