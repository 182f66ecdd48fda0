//! One module per subcommand.

pub mod completions;
pub mod log;
pub mod run;
pub mod schema;
pub mod skill;
pub mod validate;
