//! MCP skills for perstack: the skill host ([`host`]), which starts every skill an Expert
//! declares and serves one tool catalogue, and the built-in base skill ([`base`]).

pub mod base;
mod error;
pub mod host;
pub mod lockfile;

pub use error::SkillError;
pub use host::{CallOutcome, HostOptions, SkillHost};
