//! The seccomp filter denying IP sockets to a child that did not declare network access.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::{Result, SandboxError};

/// The only address families a child without network may use: local sockets and netlink
/// (which talks to the kernel only). Everything else (IPv4, IPv6, raw packets, vsock to the
/// hypervisor, ...) is refused.
const ALLOWED_FAMILIES: [i32; 2] = [libc::AF_UNIX, libc::AF_NETLINK];

/// Compiles the filter for this architecture: `socket()` with any other family and every
/// io_uring entry point (io_uring can open sockets without the `socket` system call)
/// fail with `EACCES`; everything else is allowed.
pub(crate) fn ip_socket_filter() -> Result<BpfProgram> {
    build().map_err(|e| SandboxError::Confinement {
        layer: "seccomp",
        reason: e.to_string(),
    })
}

fn build() -> std::result::Result<BpfProgram, seccompiler::Error> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    // One rule whose conditions all hold (the family is neither allowed one) denies the call.
    let not_allowed = ALLOWED_FAMILIES
        .iter()
        .map(|family| {
            SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, *family as u64)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_socket, vec![SeccompRule::new(not_allowed)?]);
    // An empty rule list matches the call unconditionally.
    rules.insert(libc::SYS_io_uring_setup, vec![]);
    rules.insert(libc::SYS_io_uring_enter, vec![]);
    rules.insert(libc::SYS_io_uring_register, vec![]);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EACCES as u32),
        arch,
    )?;
    Ok(BpfProgram::try_from(filter)?)
}
