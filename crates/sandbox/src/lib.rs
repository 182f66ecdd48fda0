//! The sandbox mechanisms of perstack.
//!
//! - [`workspace`]: the workspace boundary (paths resolved beneath the root with `openat2`,
//!   `perstack/` invisible, quota).
//! - [`env`]: the environment a child process receives.
//! - [`net`]: the network guard (SSRF checks, IP pinning, redirects, `allowedDomains`).
//! - [`redact`]: secret redaction.
//!
//! Every layer assumes the one above it failed.

pub mod env;
mod error;
pub mod net;
pub mod redact;
pub mod workspace;

pub use error::{Result, SandboxError};
pub use net::{CheckedTarget, NetworkGuard, NetworkPolicy, Refusal};
pub use redact::Redactor;
pub use workspace::{Quota, Workspace, WriteMode};
