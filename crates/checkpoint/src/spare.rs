//! Replacing a file every step without freeing an inode.
//!
//! The classic replacement (a new temp file renamed over the target) allocates an inode and
//! frees the target's old one each time. On ext4 without a journal, every later file creation
//! in the same inode group steps over each inode freed in the last 5 seconds (305 while its
//! inode-table block is dirty), reading it to check its deletion time. A run that replaced
//! `job.json` and a checkpoint file every step made each later creation slower: step times
//! grew about 2× over 1000 steps on such a disk (the bench's machine; docs/performance.md).
//!
//! Here the new content goes into a spare file kept per folder and process, which is then
//! swapped with the target by `renameat2(RENAME_EXCHANGE)`: still atomic for a killed
//! process and for readers (they see the old or the new file), and the old inode becomes the
//! next spare instead of being freed. A new target consumes the spare by a plain rename.
//! Spares are named `.tmp-<pid>-spare` (no `.json`, so no reader takes them for a record)
//! and removed when the storage is dropped; one left by a killed process is reused or
//! replaced by a process with the same pid and is otherwise inert.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustix::fs::{CWD, RenameFlags, renameat_with};
use rustix::io::Errno;

use crate::StorageError;
use crate::store::lock;

/// The spare file of each folder this process replaces files in; one writer per folder at
/// a time.
#[derive(Debug, Default)]
pub(crate) struct Spares {
    dirs: Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>,
}

impl Spares {
    /// Replaces `path` (in `dir`) with `bytes` through `dir`'s spare, counting the swap or
    /// rename in `renames`. `None` when the spare cannot be used (something other than a
    /// plain file of ours is in its place and cannot be removed): the caller replaces the
    /// classic way.
    pub(crate) fn replace(
        &self,
        dir: &Path,
        path: &Path,
        bytes: &[u8],
        renames: &AtomicU64,
    ) -> Option<Result<(), StorageError>> {
        let folder = Arc::clone(lock(&self.dirs).entry(dir.to_path_buf()).or_default());
        let _one_writer = lock(&folder);
        let spare = spare_path(dir);
        let mut file = open_spare(&spare)?;
        if let Err(e) = file.write_all(bytes) {
            return Some(Err(StorageError::io("writing", &spare, e)));
        }
        drop(file);
        renames.fetch_add(1, Ordering::Relaxed);
        let swapped = match renameat_with(CWD, &spare, CWD, path, RenameFlags::EXCHANGE) {
            Ok(()) => Ok(()),
            // A new target (ENOENT), or a file system without the exchange (EINVAL): a
            // plain rename, which uses up the spare.
            Err(Errno::NOENT | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                std::fs::rename(&spare, path)
            }
            Err(e) => Err(e.into()),
        };
        Some(swapped.map_err(|e| StorageError::io("renaming into", path, e)))
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        for dir in lock(&self.dirs).keys() {
            let _ = std::fs::remove_file(spare_path(dir));
        }
    }
}

fn spare_path(dir: &Path) -> PathBuf {
    dir.join(format!(".tmp-{}-spare", std::process::id()))
}

/// The spare, emptied, for writing: only a regular file with no other name is reused. A
/// link planted in its place is not followed (`O_NOFOLLOW`), and a file with a second name
/// (a hard link to something else) is not written through; either is removed and the spare
/// created anew. `None` when that fails too.
fn open_spare(spare: &Path) -> Option<File> {
    let open = |create_new: bool| {
        let mut o = OpenOptions::new();
        o.write(true).custom_flags(libc::O_NOFOLLOW);
        if create_new {
            o.create_new(true);
        } else {
            o.create(true);
        }
        o.open(spare)
    };
    if let Ok(f) = open(false)
        && f.metadata().is_ok_and(|m| m.is_file() && m.nlink() == 1)
        && f.set_len(0).is_ok()
    {
        return Some(f);
    }
    match std::fs::remove_file(spare) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => return None,
    }
    open(true).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::collections::BTreeSet;
    use std::os::unix::fs::MetadataExt;

    fn ino(p: &Path) -> u64 {
        std::fs::metadata(p).unwrap().ino()
    }

    #[test]
    fn replacing_again_and_again_recycles_two_inodes_and_frees_none() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("job.json");
        let spares = Spares::default();
        let renames = AtomicU64::new(0);
        let mut seen = BTreeSet::new();
        let mut before = None;
        for i in 0..20 {
            let text = format!("{{\"step\":{i}}}");
            spares
                .replace(dir.path(), &target, text.as_bytes(), &renames)
                .unwrap()
                .unwrap();
            assert_eq!(std::fs::read_to_string(&target).unwrap(), text);
            if let Some(old) = before {
                // Not freed: the replaced file lives on as the spare.
                assert_eq!(ino(&spare_path(dir.path())), old, "step {i}");
            }
            before = Some(ino(&target));
            seen.insert(ino(&target));
        }
        // The classic temp-and-rename would have shown 20 inodes (and freed 19).
        assert_eq!(seen.len(), 2, "inodes used: {seen:?}");
        assert_eq!(renames.load(Ordering::Relaxed), 20);
    }

    #[test]
    fn a_new_target_takes_the_spare_and_the_next_replacement_makes_another() {
        let dir = tempfile::tempdir().unwrap();
        let spares = Spares::default();
        let renames = AtomicU64::new(0);
        for name in ["a.json", "b.json"] {
            let path = dir.path().join(name);
            spares
                .replace(dir.path(), &path, name.as_bytes(), &renames)
                .unwrap()
                .unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.json")).unwrap(),
            "a.json"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("b.json")).unwrap(),
            "b.json"
        );
        assert!(!spare_path(dir.path()).exists(), "both spares were used up");
    }

    #[test]
    fn dropping_removes_the_spares() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("job.json");
        std::fs::write(&target, "old").unwrap();
        let spares = Spares::default();
        spares
            .replace(dir.path(), &target, b"new", &AtomicU64::new(0))
            .unwrap()
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(spare_path(dir.path())).unwrap(),
            "old"
        );
        drop(spares);
        assert!(!spare_path(dir.path()).exists());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }

    #[test]
    fn a_link_planted_as_the_spare_is_neither_followed_nor_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        let target = dir.path().join("job.json");
        let spares = Spares::default();
        let renames = AtomicU64::new(0);
        for plant in ["symlink", "hardlink"] {
            std::fs::write(&victim, "precious").unwrap();
            let spare = spare_path(dir.path());
            let _ = std::fs::remove_file(&spare);
            match plant {
                "symlink" => std::os::unix::fs::symlink(&victim, &spare).unwrap(),
                _ => std::fs::hard_link(&victim, &spare).unwrap(),
            }
            spares
                .replace(dir.path(), &target, plant.as_bytes(), &renames)
                .unwrap()
                .unwrap();
            assert_eq!(
                std::fs::read_to_string(&victim).unwrap(),
                "precious",
                "{plant}"
            );
            assert_eq!(std::fs::read_to_string(&target).unwrap(), plant);
            let after = std::fs::symlink_metadata(&victim).unwrap();
            assert_eq!(after.nlink(), 1, "{plant}: the victim keeps one name");
        }
    }

    #[test]
    fn a_folder_in_the_spares_place_leaves_the_replacement_to_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let spare = spare_path(dir.path());
        std::fs::create_dir(&spare).unwrap();
        std::fs::write(spare.join("x"), "x").unwrap();
        let target = dir.path().join("job.json");
        let spares = Spares::default();
        assert!(
            spares
                .replace(dir.path(), &target, b"new", &AtomicU64::new(0))
                .is_none()
        );
        assert!(!target.exists());
    }

    #[test]
    fn threads_replacing_in_one_folder_each_get_their_own_content() {
        let dir = tempfile::tempdir().unwrap();
        let spares = Arc::new(Spares::default());
        let renames = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (dir, spares, renames) = (
                    dir.path().to_path_buf(),
                    Arc::clone(&spares),
                    Arc::clone(&renames),
                );
                std::thread::spawn(move || {
                    let target = dir.join(format!("{t}.json"));
                    for i in 0..50 {
                        let text = format!("{t}:{i}");
                        spares
                            .replace(&dir, &target, text.as_bytes(), &renames)
                            .unwrap()
                            .unwrap();
                        assert_eq!(std::fs::read_to_string(&target).unwrap(), text);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        for t in 0..8 {
            let got = std::fs::read_to_string(dir.path().join(format!("{t}.json"))).unwrap();
            assert_eq!(got, format!("{t}:49"));
        }
    }
}
