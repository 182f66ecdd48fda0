//! Model prices and cost estimates: a built-in table of list prices (Anthropic, OpenAI,
//! Gemini; see `pricing.toml` for the date they were taken), overridable per model id with
//! `[pricing."<model id>"]` in `perstack.toml`.
//!
//! Figures are estimates from the token counts providers report and the list prices, not a
//! bill: negotiated discounts, batch prices, long-context tiers and tool fees are not modelled.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::config::{PerstackConfig, PriceOverride};
use crate::usage::Usage;

/// The built-in table, as shipped (TOML, compiled in).
const BUILTIN_TOML: &str = include_str!("pricing.toml");

/// Characters that may follow a key in a longer model id that still matches it
/// (`claude-sonnet-4-5-20250929`, `claude-sonnet-4-5@20250929`, `llama3:8b`).
const PREFIX_BOUNDARIES: [char; 3] = ['-', '@', ':'];

// Parsed on the first lookup, not at start: most runs never price anything (only a cost
// budget or `log --cost` does), and parsing the file costs about 0.8 M instructions.
static BUILTIN: LazyLock<BTreeMap<String, ModelPrice>> = LazyLock::new(|| {
    // A unit test proves the shipped file parses; an empty table here would only make
    // every model unknown (cost budgets then refuse to start), never misprice one.
    toml::from_str::<BuiltinFile>(BUILTIN_TOML)
        .map(|f| f.models)
        .unwrap_or_default()
});

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuiltinFile {
    models: BTreeMap<String, ModelPrice>,
}

/// Prices of one model in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelPrice {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens, reasoning included.
    pub output: f64,
    /// Input tokens served from the prompt cache.
    pub cache_read: f64,
    /// Input tokens written to the prompt cache.
    pub cache_write: f64,
}

/// Token counts split into disjoint billing classes (unlike [`Usage`], whose input count
/// includes cached tokens and whose output count includes reasoning).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Input tokens neither read from nor written to the cache.
    pub input: u64,
    /// Input tokens read from the cache.
    pub cache_read: u64,
    /// Input tokens written to the cache.
    pub cache_write: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
}

impl From<&Usage> for TokenCounts {
    /// Providers report cache reads and writes as part of `inputTokens` and reasoning as part
    /// of `outputTokens`.
    fn from(u: &Usage) -> Self {
        TokenCounts {
            input: u
                .input_tokens
                .saturating_sub(u.cached_input_tokens)
                .saturating_sub(u.cache_write_input_tokens),
            cache_read: u.cached_input_tokens,
            cache_write: u.cache_write_input_tokens,
            output: u.output_tokens,
        }
    }
}

impl ModelPrice {
    /// The cost in USD of `tokens`.
    pub fn cost_of(&self, tokens: TokenCounts) -> f64 {
        // u64 -> f64 loses precision only above 2^53 tokens, far beyond any bill.
        let part = |n: u64, per_million: f64| n as f64 * per_million;
        (part(tokens.input, self.input)
            + part(tokens.cache_read, self.cache_read)
            + part(tokens.cache_write, self.cache_write)
            + part(tokens.output, self.output))
            / 1_000_000.0
    }

    /// The cost in USD of `usage` (see [`TokenCounts`] for how it is split).
    pub fn cost(&self, usage: &Usage) -> f64 {
        self.cost_of(TokenCounts::from(usage))
    }

    fn with_override(base: Option<ModelPrice>, o: &PriceOverride) -> ModelPrice {
        ModelPrice {
            input: o.input,
            output: o.output,
            cache_read: o
                .cache_read
                .or(base.map(|b| b.cache_read))
                .unwrap_or(o.input),
            cache_write: o
                .cache_write
                .or(base.map(|b| b.cache_write))
                .unwrap_or(o.input),
        }
    }
}

/// Prices by model id, looked up by exact id, then by the longest key the id starts with.
#[derive(Debug, Clone)]
pub struct PriceTable {
    /// `None`: the built-in table as shipped, read from [`BUILTIN`] (copied on first change).
    models: Option<BTreeMap<String, ModelPrice>>,
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::empty()
    }
}

impl PartialEq for PriceTable {
    fn eq(&self, other: &Self) -> bool {
        self.models() == other.models()
    }
}

impl PriceTable {
    /// A table with no prices.
    pub fn empty() -> Self {
        PriceTable {
            models: Some(BTreeMap::new()),
        }
    }

    /// The built-in list prices (may be outdated; see the crate's `pricing.toml`).
    pub fn builtin() -> Self {
        PriceTable { models: None }
    }

    fn models(&self) -> &BTreeMap<String, ModelPrice> {
        self.models.as_ref().unwrap_or(&BUILTIN)
    }

    /// The built-in table with the config's `[pricing."<model id>"]` merged over it.
    pub fn from_config(config: &PerstackConfig) -> Self {
        PriceTable::builtin().with_overrides(&config.pricing)
    }

    /// This table with `overrides` merged over it: each replaces the entry of its model id;
    /// cache prices it leaves out keep the figure the id resolved to before, else `input`.
    pub fn with_overrides(mut self, overrides: &IndexMap<String, PriceOverride>) -> Self {
        for (model, o) in overrides {
            let base = self.get(model).copied();
            self.insert(model.clone(), ModelPrice::with_override(base, o));
        }
        self
    }

    /// Sets the price of `model` (an exact id or a prefix of dated ids).
    pub fn insert(&mut self, model: impl Into<String>, price: ModelPrice) {
        self.models
            .get_or_insert_with(|| BUILTIN.clone())
            .insert(model.into(), price);
    }

    /// The price of `model`: its exact entry, else the longest key it starts with followed by
    /// `-`, `@` or `:`; an id with a provider path (`models/gemini-2.5-pro`,
    /// `openai/gpt-5`) is also tried without it. `None` when the model is unknown.
    pub fn get(&self, model: &str) -> Option<&ModelPrice> {
        self.lookup(model).or_else(|| {
            let (_, last) = model.rsplit_once('/')?;
            self.lookup(last)
        })
    }

    fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        let models = self.models();
        if let Some(p) = models.get(model) {
            return Some(p);
        }
        models
            .iter()
            .filter(|(key, _)| {
                model
                    .strip_prefix(key.as_str())
                    .and_then(|rest| rest.chars().next())
                    .is_some_and(|c| PREFIX_BOUNDARIES.contains(&c))
            })
            .max_by_key(|(key, _)| key.len())
            .map(|(_, p)| p)
    }

    /// The cost in USD of `usage` with `model`, `None` when the model's price is unknown.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.get(model).map(|p| p.cost(usage))
    }

    /// Every entry, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.models().iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests;
