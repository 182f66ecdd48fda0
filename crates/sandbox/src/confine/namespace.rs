//! The mount-namespace layer: a confined child enters a new user and mount namespace in which
//! each hidden folder (`<workspace>/perstack`, where checkpoints and the audit log live by
//! default) is covered by an empty read-only tmpfs. Landlock cannot carve a read-only hole
//! out of the writable workspace; a mount in the child's own namespace can.
//!
//! Why unsafe: the availability probe forks (a multi-threaded process may only make
//! async-signal-safe calls in the forked child, which is what [`NsPlan::enter`] does: no
//! allocation, only system calls on data prepared in the parent), and dropping the bounding
//! capability set needs the variadic `prctl`. `unshare` is `unsafe` in rustix only because
//! of `CLONE_FILES`, which is not used.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;
use rustix::process::WaitOptions;
use rustix::thread::{CapabilitySet, CapabilitySets, UnshareFlags};

use crate::error::{Result, SandboxError};

/// Options of the covering tmpfs: no room, read-only root.
const TMPFS_OPTIONS: &std::ffi::CStr = c"mode=0555,size=4k";

/// Everything the child needs, prepared in the parent.
#[derive(Debug)]
pub(crate) struct NsPlan {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    targets: Vec<CString>,
}

impl NsPlan {
    /// The plan hiding `paths`, each created first when missing (a folder a child could
    /// create itself could also be a link the runtime would then write through).
    pub(crate) fn new(paths: &[PathBuf]) -> Result<Self> {
        let fail = |reason: String| SandboxError::Confinement {
            layer: "mount namespace",
            reason,
        };
        let mut targets = Vec::with_capacity(paths.len());
        for p in paths {
            std::fs::create_dir_all(p)
                .map_err(|e| fail(format!("cannot create {}: {e}", p.display())))?;
            let meta = std::fs::symlink_metadata(p)
                .map_err(|e| fail(format!("cannot inspect {}: {e}", p.display())))?;
            if !meta.is_dir() {
                return Err(fail(format!(
                    "{} is not a folder (a link?); refusing to mount over it",
                    p.display()
                )));
            }
            targets.push(c_path(p).map_err(fail)?);
        }
        // Map exactly the current user and group onto themselves: files the child creates
        // keep their owner, and the kernel lets an unprivileged process write this map.
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        Ok(NsPlan {
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            targets,
        })
    }

    /// Enters the namespaces and mounts the covers. Runs in a forked child: no allocation.
    /// Afterwards the process holds no capability, in the new namespace either, so it cannot
    /// unmount the covers (Landlock, applied next, forbids mount changes as well).
    pub(crate) fn enter(&self) -> std::result::Result<(), Errno> {
        // SAFETY: no CLONE_FILES; the process is single-threaded after fork.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNS) }?;
        match write_file(c"/proc/self/setgroups", b"deny") {
            // Kernels before 3.19 have no setgroups file and need no denial.
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e),
        }
        write_file(c"/proc/self/uid_map", &self.uid_map)?;
        write_file(c"/proc/self/gid_map", &self.gid_map)?;
        for target in &self.targets {
            rustix::mount::mount(
                c"tmpfs",
                target.as_c_str(),
                c"tmpfs",
                MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                TMPFS_OPTIONS,
            )?;
        }
        drop_capabilities()
    }
}

fn c_path(p: &Path) -> std::result::Result<CString, String> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| format!("{} contains a NUL byte", p.display()))
}

fn write_file(path: &std::ffi::CStr, data: &[u8]) -> std::result::Result<(), Errno> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    let n = rustix::io::write(&fd, data)?;
    if n == data.len() {
        Ok(())
    } else {
        Err(Errno::IO)
    }
}

/// Empties the bounding set (so no later `execve` grants any capability, even to uid 0 in
/// the namespace) and the effective, permitted and inheritable sets (ambient follows).
fn drop_capabilities() -> std::result::Result<(), Errno> {
    for cap in 0..64 {
        // SAFETY: PR_CAPBSET_DROP takes one integer argument and touches no memory.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if r != 0 {
            // Reading errno does not allocate.
            let e = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EPERM);
            // EINVAL: past the last capability this kernel knows.
            if e != libc::EINVAL {
                return Err(Errno::from_raw_os_error(e));
            }
            break;
        }
    }
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        },
    )
}

/// Tries the plan in a throwaway forked child: `Ok` when this kernel (and the seccomp
/// profile of any container around us) allows it, else why not.
pub(crate) fn probe(plan: &NsPlan) -> std::result::Result<(), String> {
    // SAFETY: the child only runs `NsPlan::enter` (system calls on data prepared before the
    // fork, no allocation, no lock) and then `_exit`, as a pre_exec hook would.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let code = match plan.enter() {
            Ok(()) => 0,
            Err(e) => e.raw_os_error(),
        };
        // SAFETY: `_exit` ends the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(code) }
    }
    let child = rustix::process::Pid::from_raw(pid).ok_or("fork returned no pid")?;
    let status = loop {
        match rustix::process::waitpid(Some(child), WaitOptions::empty()) {
            Ok(Some((_, s))) => break s,
            Ok(None) => return Err("the probe child vanished".into()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(format!("waiting for the probe: {e}")),
        }
    };
    match status.exit_status() {
        Some(0) => Ok(()),
        Some(code) => Err(format!(
            "unshare/mount refused: {} (unprivileged user namespaces unavailable, e.g. blocked \
             by a container's seccomp profile or a sysctl)",
            std::io::Error::from_raw_os_error(code)
        )),
        None => Err(format!("the probe child died: {status:?}")),
    }
}
