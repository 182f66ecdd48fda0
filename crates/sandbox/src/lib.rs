//! The sandbox mechanisms of perstack.
//!
//! - [`workspace`]: the workspace boundary (paths resolved beneath the root with `openat2`,
//!   `perstack/` invisible, quota).
//! - [`confine`]: process confinement (no_new_privs, Landlock, seccomp) for children.
//! - [`env`](mod@env): the environment a child process receives.
//! - [`net`]: the network guard (SSRF checks, IP pinning, redirects, `allowedDomains`).
//! - [`redact`]: secret redaction.
//! - [`supervise`]: a subreaper that kills every descendant of a child when it ends.
//!
//! Every layer assumes the one above it failed.

pub mod confine;
pub mod env;
mod error;
pub mod net;
pub mod redact;
pub mod supervise;
pub mod workspace;

pub use confine::{
    Confinement, ConfinementPolicy, ConfinementReport, Enforcement, MountNamespaceReport,
};
pub use error::{Result, SandboxError};
pub use net::{CheckedTarget, NetworkGuard, NetworkPolicy, Refusal};
pub use redact::Redactor;
pub use workspace::{Quota, Workspace, WriteMode};
