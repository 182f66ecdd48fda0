//! `perstack.toml`: the typed model, loading, and validation with actionable diagnostics.

mod checks;
mod diagnostic;
mod load;
mod model;
mod pricing;
mod repair;
mod schema_check;
mod source;

#[cfg(test)]
mod roundtrip_tests;

pub use diagnostic::{Diagnostic, Diagnostics, KeyPath, Seg, Severity, did_you_mean};
pub use load::{
    CONFIG_FILE_NAME, IN_CODE, LoadedConfig, find_config, load_config, parse_config, validate,
};
pub use model::*;
pub use pricing::PriceOverride;

/// The JSON Schema of `perstack.toml` (as JSON), generated from the typed model (optional
/// keys optional, not nullable: TOML has no null).
pub fn config_json_schema() -> serde_json::Value {
    crate::schema::input_schema::<PerstackConfig>()
}
