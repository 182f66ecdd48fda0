//! The two ways of opening one path component beneath a directory file descriptor.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// How single components are opened during a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveMode {
    /// `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS`: the
    /// kernel itself refuses anything that would leave the directory or follow a link.
    Openat2,
    /// `openat` with `O_NOFOLLOW`, for kernels without `openat2` (before 5.6) or where a
    /// seccomp profile blocks it.
    NoFollowWalk,
}

/// Which mode this kernel supports, probed on the workspace root.
pub(crate) fn detect(root: BorrowedFd<'_>) -> ResolveMode {
    match rustix::fs::openat2(
        root,
        ".",
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(_) => ResolveMode::Openat2,
        Err(e) => {
            tracing::info!(error = %e, "openat2 unavailable; using the O_NOFOLLOW component walk");
            ResolveMode::NoFollowWalk
        }
    }
}

/// Opens `name` (one component, no `/`) in `dir` without following a symbolic link.
pub(crate) fn open_one(
    mode: ResolveMode,
    dir: impl AsFd,
    name: &[u8],
    flags: OFlags,
    create_mode: Mode,
) -> Result<OwnedFd, Errno> {
    if name.contains(&b'/') || name.is_empty() {
        // Cannot happen after splitting; refuse rather than trust it.
        return Err(Errno::INVAL);
    }
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    // openat2 rejects a mode without O_CREAT.
    let create_mode = if flags.contains(OFlags::CREATE) {
        create_mode
    } else {
        Mode::empty()
    };
    match mode {
        ResolveMode::Openat2 => rustix::fs::openat2(
            dir,
            name,
            flags,
            create_mode,
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_SYMLINKS,
        ),
        ResolveMode::NoFollowWalk => rustix::fs::openat(dir, name, flags, create_mode),
    }
}
