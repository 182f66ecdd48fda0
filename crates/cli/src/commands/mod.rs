//! One module per subcommand, plus what the running ones share.

pub mod completions;
mod continue_guard;
mod engine;
pub mod install;
pub mod jobs;
mod live;
pub mod log;
mod log_cost;
mod log_verify;
mod log_view;
mod prepare;
mod prompt;
pub mod proxy;
pub mod replay;
pub mod run;
mod run_flags;
pub mod schema;
pub mod skill;
pub mod start;
mod start_args;
pub mod validate;
mod waiting;
pub(crate) mod why;
