//! The seccomp filter denying IP sockets to a child that did not declare network access.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::{Result, SandboxError};

/// Address families refused: IPv4, IPv6 and raw packets.
const DENIED_FAMILIES: [i32; 3] = [libc::AF_INET, libc::AF_INET6, libc::AF_PACKET];

/// Compiles the filter for this architecture: `socket()` with a denied family and every
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
    let socket_rules = DENIED_FAMILIES
        .iter()
        .map(|family| {
            let cond = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                *family as u64,
            )?;
            SeccompRule::new(vec![cond])
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_socket, socket_rules);
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
