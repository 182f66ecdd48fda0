//! Test fixtures shared across the workspace: the project's scripted LLM server, used by
//! `cargo xtask demo` and by the CLI's end-to-end tests, so an Expert runs offline through
//! the real provider, skill host, runtime and storage; the `llmock` peer launcher; and a
//! watcher for `perstack` child processes that tests signal.

pub mod llmock;
pub mod process;
mod responses_api;
pub mod scripted_llm;
pub mod workspace_bin;

pub use llmock::{Api, Llmock, pypi_tool};
pub use process::{Finished, PATIENCE, Watched, event_types};
/// Signals for [`Watched::signal`].
pub use rustix::process::Signal;
pub use scripted_llm::{Options as ScriptOptions, ScriptedCall, ScriptedLlm, Timing, Turn};
pub use workspace_bin::{mcp_test_server, workspace_bin};
