//! One module per subcommand.

pub mod completions;
pub mod install;
pub mod log;
mod log_cost;
pub mod run;
pub mod schema;
pub mod skill;
pub mod validate;
mod waiting;
