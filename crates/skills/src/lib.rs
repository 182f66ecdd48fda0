//! MCP skills for perstack. This crate currently holds the built-in base skill
//! ([`base`]); the skill host builds on it.

pub mod base;
mod error;

pub use error::SkillError;
