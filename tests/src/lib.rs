//! Test fixtures shared across the workspace: the project's scripted LLM server, used by
//! `cargo xtask demo` and by the CLI's end-to-end tests, so an Expert runs offline through
//! the real provider, skill host, runtime and storage.

pub mod scripted_llm;

pub use scripted_llm::{ScriptedCall, ScriptedLlm, Turn};
