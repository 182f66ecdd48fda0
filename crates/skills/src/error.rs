//! The one error type of this crate.

/// What can go wrong starting or serving a skill.
#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    /// The sandbox refused (e.g. the workspace cannot be opened); fix the path or policy.
    #[error(transparent)]
    Sandbox(#[from] perstack_sandbox::SandboxError),
    /// The MCP connection failed or closed with an error.
    #[error("MCP transport error: {reason}")]
    Transport {
        /// What the transport reported.
        reason: String,
    },
}
