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
    let mut schema = crate::schema::input_schema::<PerstackConfig>();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("title".into(), "perstack.toml".into());
    }
    schema
}

/// `docs/schema/config.json`: [`config_json_schema`] as `cargo xtask schema` wrote it, which
/// every config load checks against. Reading it costs a fifth of generating it (about 1.6 M
/// instructions before the first model request); a unit test proves the two are equal.
const SHIPPED_SCHEMA: &str = include_str!("../../../../docs/schema/config.json");

/// The schema a config is checked against: the shipped copy, or generated if that one
/// cannot be read (it always can: see the test).
fn checked_schema() -> serde_json::Value {
    serde_json::from_str(SHIPPED_SCHEMA).unwrap_or_else(|_| config_json_schema())
}

#[cfg(test)]
mod shipped_schema_tests {
    use pretty_assertions::assert_eq;

    /// Configs are checked against the shipped copy; it must be what the model generates
    /// (`cargo xtask schema` rewrites it after a change to the config types).
    #[test]
    fn the_shipped_schema_is_the_generated_one() {
        let shipped: serde_json::Value =
            serde_json::from_str(super::SHIPPED_SCHEMA).expect("docs/schema/config.json parses");
        assert_eq!(
            shipped,
            super::config_json_schema(),
            "docs/schema/config.json is stale: run `cargo xtask schema`"
        );
    }
}
