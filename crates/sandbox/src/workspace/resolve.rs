//! Resolving a tool's path to (directory fd, final name) beneath the workspace root.
//!
//! Every component is opened relative to the file descriptor of the directory before it,
//! never by a path string, and never following a link in the kernel: symbolic links are
//! read and interpreted here, so each hop is checked against the root and against the
//! reserved `perstack/` folder. `..` pops a stack of held directory descriptors, so a
//! directory moved out of the workspace while we hold it cannot take us with it, and a
//! link swapped in by another process between two steps is seen as a link, not followed.

use std::collections::VecDeque;
use std::os::unix::ffi::OsStrExt;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use super::Workspace;
use super::name::{Comp, is_reserved_name, parse_user_path, split_relative, strip_root};
use super::sys::open_one;
use crate::error::{Result, SandboxError};

/// Linux's own limit on links followed in one lookup.
const MAX_LINKS: usize = 40;

/// Where a path leads.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The directory holding the final entry (an `O_PATH` descriptor).
    pub parent: OwnedFd,
    /// The final entry's name; `None` when the path is the root itself.
    pub name: Option<Vec<u8>>,
    /// Names from the root to the final entry.
    pub rel: Vec<Vec<u8>>,
}

/// How to treat the final component and missing directories.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Walk {
    /// Resolve a final symbolic link to its target (reads, writes); otherwise the link itself
    /// is the target (delete, move).
    pub follow_final: bool,
    /// Create missing intermediate directories (write, create, move destination).
    pub create_parents: bool,
}

impl Workspace {
    /// Resolves `input` beneath the root.
    pub(crate) fn resolve(&self, input: &str, walk: Walk) -> Result<Resolved> {
        let roots = self.roots();
        let mut queue: VecDeque<Comp> = parse_user_path(input, &roots)?.into();
        let mut stack: Vec<(OwnedFd, Vec<u8>)> = Vec::new();
        let mut links = 0usize;
        let err = |e: Errno| SandboxError::io("resolve", input, e);

        while let Some(comp) = queue.pop_front() {
            let name = match comp {
                Comp::Parent => {
                    if stack.pop().is_none() {
                        return Err(SandboxError::OutsideWorkspace {
                            path: input.to_string(),
                        });
                    }
                    continue;
                }
                Comp::Name(name) => name,
            };
            if stack.is_empty() && is_reserved_name(&name) {
                return Err(SandboxError::Reserved {
                    path: input.to_string(),
                });
            }
            let is_last = queue.is_empty();
            let cur = match stack.last() {
                Some((fd, _)) => fd.as_fd(),
                None => self.root.as_fd(),
            };
            if is_last && !walk.follow_final {
                return self.finish(stack, Some(name));
            }
            let fd = match open_one(self.mode, cur, &name, OFlags::PATH, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if is_last => return self.finish(stack, Some(name)),
                Err(Errno::NOENT) if walk.create_parents => {
                    match rustix::fs::mkdirat(cur, name.as_slice(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(SandboxError::io("create directory", input, e)),
                    }
                    queue.push_front(Comp::Name(name));
                    continue;
                }
                Err(e) => return Err(err(e)),
            };
            let stat = rustix::fs::fstat(&fd).map_err(err)?;
            match FileType::from_raw_mode(stat.st_mode) {
                FileType::Symlink => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(SandboxError::TooManySymlinks {
                            path: input.to_string(),
                        });
                    }
                    let target = rustix::fs::readlinkat(&fd, "", Vec::new()).map_err(err)?;
                    let target = target.as_bytes();
                    let comps = if target.first() == Some(&b'/') {
                        let comps = strip_root(input, target, &roots)?;
                        stack.clear();
                        comps
                    } else {
                        split_relative(input, target)?
                    };
                    for c in comps.into_iter().rev() {
                        queue.push_front(c);
                    }
                }
                FileType::Directory if !is_last => stack.push((fd, name)),
                FileType::Directory
                | FileType::RegularFile
                | FileType::Fifo
                | FileType::CharacterDevice
                | FileType::BlockDevice
                | FileType::Socket
                | FileType::Unknown => {
                    if !is_last {
                        return Err(SandboxError::NotADirectory {
                            path: input.to_string(),
                        });
                    }
                    return self.finish(stack, Some(name));
                }
            }
        }
        // The path ended on a directory we hold (or on the root).
        let last = stack.pop();
        self.finish(stack, last.map(|(_, name)| name))
    }

    fn finish(&self, stack: Vec<(OwnedFd, Vec<u8>)>, name: Option<Vec<u8>>) -> Result<Resolved> {
        let mut rel: Vec<Vec<u8>> = stack.iter().map(|(_, n)| n.clone()).collect();
        let parent = match stack.into_iter().last() {
            Some((fd, _)) => fd,
            None => self
                .root
                .try_clone()
                .map_err(|source| SandboxError::WorkspaceRoot {
                    root: self.root_path.clone(),
                    source,
                })?,
        };
        if let Some(n) = &name {
            rel.push(n.clone());
        }
        Ok(Resolved { parent, name, rel })
    }

    /// The absolute path of a resolved entry, for messages and tool results.
    pub(crate) fn display_path(&self, resolved: &Resolved) -> std::path::PathBuf {
        let mut p = self.root_path.clone();
        for n in &resolved.rel {
            p.push(std::ffi::OsStr::from_bytes(n));
        }
        p
    }
}
