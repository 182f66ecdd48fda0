//! The perstack agent loop and its embedding API.
//!
//! A [`Runtime`] runs an Expert with an LLM [`Provider`](perstack_providers::Provider), the
//! Expert's tools (any [`ToolHostFactory`]; the skill host implements it over MCP), optional
//! [`Storage`](perstack_checkpoint::Storage) and an [`EventListener`]. The loop is Perstack's
//! state machine: every transition is one event, in Perstack's order, and the checkpoint an
//! event carries is stored before the event is emitted, so the last checkpoint always
//! matches what a listener has seen and can be resumed.
//!
//! To start, see [`embed`]: one import for the config, provider, skill host, storage and
//! runtime, and `crates/runtime/examples/embed.rs`.
//!
//! ```no_run
//! # async fn demo(provider: std::sync::Arc<dyn perstack_providers::Provider>,
//! #               host: std::sync::Arc<dyn perstack_runtime::ToolHost>,
//! #               config: perstack_core::config::PerstackConfig)
//! #               -> Result<(), perstack_runtime::RuntimeError> {
//! use std::sync::Arc;
//! use perstack_runtime::*;
//! let runtime = Runtime::new(provider, Arc::new(SharedToolHost(host)))
//!     .with_listener(Arc::new(|e: &perstack_events::Event| tracing::info!("{}", e.type_name())));
//! let setting = RunSetting::from_config(&config, "my-expert", "claude-sonnet-4-5",
//!                                       RunInput::query("Summarise README.md"));
//! let outcome = runtime.run(setting).await?;
//! std::process::exit(outcome.exit_code());
//! # }
//! ```

mod approval;
mod delegation;
pub mod embed;
mod emitter;
mod error;
mod host_events;
mod listener;
mod machine;
mod outcome;
pub mod prompt;
mod redact;
mod resume;
mod run;
mod setting;
mod skill_host;
mod stop;
mod tools;

pub use approval::{Decision, ToolCallDecision};
pub use error::RuntimeError;
pub use host_events::HostEvents;
pub use listener::{CollectingListener, CompactEventListener, EventListener};
pub use outcome::{RunOutcome, exit_code};
pub use perstack_sandbox::Redactor;
pub use resume::waiting_checkpoints;
pub use run::Runtime;
pub use setting::{InteractiveToolCallResult, RunInput, RunSetting, TraceInfo};
pub use skill_host::SkillHostFactory;
pub use stop::StopSignal;
pub use tools::{
    BoxFuture, HostRequest, SharedToolHost, ToolEntry, ToolHost, ToolHostError, ToolHostFactory,
    ToolKind, ToolOutcome,
};
