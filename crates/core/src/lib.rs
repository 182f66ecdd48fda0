//! Plain data shared by every perstack crate.
//!
//! This crate owns the `perstack.toml` model (loading, validation with `file:line:column`
//! diagnostics), env files, and the wire types that Perstack-compatible checkpoints and events
//! are made of: messages and their parts, tool calls and results, usage, steps, checkpoints and
//! jobs. It does no network and spawns no process.

pub mod checkpoint;
pub mod config;
pub mod egress;
pub mod elicitation;
pub mod env_file;
mod error;
pub mod expert_key;
pub mod id;
pub mod input_file;
pub mod job;
pub mod loopback;
pub mod message;
pub mod pricing;
pub mod schema;
pub mod secrets;
pub mod step;
pub mod tool;
pub mod usage;

pub use checkpoint::{
    Checkpoint, CheckpointError, CheckpointStatus, DelegatedBy, DelegationTarget, ExpertRef,
};
pub use error::CoreError;
pub use expert_key::ExpertKey;
pub use job::{Job, JobStatus};
pub use message::{
    BinaryPart, ExpertPart, FileInlinePart, ImageInlinePart, InstructionPart, Message, MessagePart,
    TextPart, ThinkingPart, ToolCallPart, ToolResultContent, ToolResultPart, UrlPart, UserPart,
};
pub use pricing::{ModelPrice, PriceTable, TokenCounts};
pub use step::Step;
pub use tool::{ToolCall, ToolDefinition, ToolResult};
pub use usage::Usage;

/// Milliseconds since the Unix epoch, the timestamp unit of every Perstack wire type.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
