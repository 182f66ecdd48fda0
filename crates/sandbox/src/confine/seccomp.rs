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

/// Like [`ip_socket_filter`], but IPv4 and IPv6 stream (TCP) sockets are allowed: for a
/// child that reaches the network only through the runtime's loopback forwarder, where
/// Landlock limits TCP connects to the forwarder's port. UDP, raw and every other IP socket
/// type stay refused, so nothing (DNS included) leaves beside the forwarder.
pub(crate) fn tcp_only_filter() -> Result<BpfProgram> {
    build_with(
        &[
            libc::AF_UNIX,
            libc::AF_NETLINK,
            libc::AF_INET,
            libc::AF_INET6,
        ],
        true,
    )
    .map_err(|e| SandboxError::Confinement {
        layer: "seccomp",
        reason: e.to_string(),
    })
}

/// IP socket types other than stream; `socket()`'s type argument may carry
/// SOCK_NONBLOCK/SOCK_CLOEXEC above the low nibble, hence the mask.
const NON_STREAM_TYPES: [i32; 6] = [
    libc::SOCK_DGRAM,
    libc::SOCK_RAW,
    libc::SOCK_RDM,
    libc::SOCK_SEQPACKET,
    libc::SOCK_DCCP,
    // SOCK_PACKET (10), an obsolete packet socket type; the libc constant is deprecated.
    10,
];

fn build() -> std::result::Result<BpfProgram, seccompiler::Error> {
    build_with(&ALLOWED_FAMILIES, false)
}

fn build_with(
    families: &[i32],
    stream_only_ip: bool,
) -> std::result::Result<BpfProgram, seccompiler::Error> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    // One rule whose conditions all hold (the family is none of the allowed) denies the call.
    let not_allowed = families
        .iter()
        .map(|family| {
            SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, *family as u64)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut socket_rules = vec![SeccompRule::new(not_allowed)?];
    if stream_only_ip {
        for family in [libc::AF_INET, libc::AF_INET6] {
            for kind in NON_STREAM_TYPES {
                socket_rules.push(SeccompRule::new(vec![
                    SeccompCondition::new(
                        0,
                        SeccompCmpArgLen::Dword,
                        SeccompCmpOp::Eq,
                        family as u64,
                    )?,
                    SeccompCondition::new(
                        1,
                        SeccompCmpArgLen::Dword,
                        SeccompCmpOp::MaskedEq(0xf),
                        kind as u64,
                    )?,
                ])?);
            }
        }
    }
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
