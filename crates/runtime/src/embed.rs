//! Everything an embedder needs, from one place: `use perstack_runtime::embed::*;`.
//!
//! Build a [`PerstackConfig`] (read one with [`load_config`], or build it in code and check
//! it with [`validate`]), a provider from code ([`HttpProvider::from_config_at`] with a base
//! URL and a [`Secret`] key, or [`ProviderSpec::endpoint`] and [`HttpProvider::new`]), the
//! skill host ([`SkillHostFactory`] over [`HostOptions`]), [`Storage`] and a listener, then a
//! [`Runtime`]. One runtime runs any number of executions concurrently
//! ([`Runtime::run`] takes `&self`); [`SkillHostFactory::shutdown`] stops the skills at the
//! end. `crates/runtime/examples/embed.rs` does all of it.

pub use crate::{
    CollectingListener, CompactEventListener, EventListener, RunInput, RunOutcome, RunSetting,
    Runtime, RuntimeError, SkillHostFactory, StopSignal,
};
pub use perstack_checkpoint::Storage;
pub use perstack_core::config::{
    Diagnostic, Diagnostics, ExpertConfig, PerstackConfig, ProviderName, ProviderSetting,
    load_config, parse_config, validate,
};
pub use perstack_core::{Job, JobStatus, Usage};
pub use perstack_events::{CompactEvent, Event, Rebuilder};
pub use perstack_providers::{ClientOptions, HttpProvider, Provider, ProviderSpec, Secret};
pub use perstack_skills::host::HostOptions;
