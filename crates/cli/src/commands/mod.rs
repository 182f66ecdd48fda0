//! One module per subcommand.

pub mod completions;
pub mod install;
pub mod log;
pub mod run;
pub mod schema;
pub mod skill;
pub mod validate;
mod waiting;
