//! One module per subcommand, plus what the running ones share.

pub mod completions;
mod engine;
pub mod install;
pub mod jobs;
mod live;
pub mod log;
mod log_cost;
mod prepare;
mod prompt;
pub mod proxy;
pub mod replay;
pub mod run;
pub mod schema;
pub mod skill;
pub mod start;
pub mod validate;
mod waiting;
