//! `[pricing."<model id>"]`: our extension to `perstack.toml` that overrides or adds model
//! prices for cost estimates and `--max-total-cost` budgets.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Prices of one model in USD per million tokens, merged over the built-in price table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceOverride {
    /// Uncached input tokens, USD per million.
    #[schemars(range(min = 0))]
    pub input: f64,
    /// Output tokens (reasoning included), USD per million.
    #[schemars(range(min = 0))]
    pub output: f64,
    /// Input tokens read from the prompt cache, USD per million (default: the built-in figure
    /// of this model, else `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cache_read: Option<f64>,
    /// Input tokens written to the prompt cache, USD per million (default: the built-in figure
    /// of this model, else `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cache_write: Option<f64>,
}
