//! The one error type of this crate.

/// What can go wrong starting or serving a skill.
#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    /// The sandbox refused (e.g. the workspace cannot be opened, or a `requiredEnv`
    /// variable is missing); fix the path, the environment or the policy.
    #[error(transparent)]
    Sandbox(#[from] perstack_sandbox::SandboxError),
    /// The MCP connection failed or closed with an error.
    #[error("MCP transport error: {reason}")]
    Transport {
        /// What the transport reported.
        reason: String,
    },
    /// A skill's declaration cannot be used as written; fix `perstack.toml`.
    #[error("skill \"{skill}\": {reason}")]
    Config {
        /// The skill (or delegate) name.
        skill: String,
        /// What is wrong.
        reason: String,
    },
    /// A skill could not be started (spawn failed, no handshake in time, tool listing
    /// failed); check the skill's command and its stderr events.
    #[error("skill \"{skill}\" failed to start: {reason}")]
    Startup {
        /// The skill name.
        skill: String,
        /// What went wrong.
        reason: String,
    },
    /// Two skills offer a tool with the same name; drop one with `omit` (or narrow with
    /// `pick`) so that every tool name is unique.
    #[error(
        "tool \"{tool}\" is offered by both {first} and {second}; add omit = [\"{tool}\"] to one of them"
    )]
    ToolCollision {
        /// The tool name.
        tool: String,
        /// Where it came from first (e.g. `skill "a"`).
        first: String,
        /// Where it came from again.
        second: String,
    },
    /// `perstack.lock` cannot be read or written; run `perstack install` again.
    #[error("lockfile {}: {reason}", path.display())]
    Lockfile {
        /// The lockfile.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
}
