//! The estimated cost `perstack log --summary` shows: the job's usage at its model's price.

use std::path::Path;

use perstack_core::config::load_config;
use perstack_core::{Job, PriceTable};
use perstack_events::{Event, RuntimeEventPayload};

use crate::config_path;

/// What can be said about a job's cost.
#[derive(Debug, Clone, PartialEq)]
pub enum JobCost {
    /// Estimated from the list price (or the config's override) of `model`.
    Estimated {
        /// The model the job's runs used.
        model: String,
        /// USD.
        usd: f64,
    },
    /// The model has no price in the table.
    UnknownPrice(String),
    /// The runs used several models; one price cannot be applied to the job's total.
    SeveralModels(Vec<String>),
    /// No `initializeRuntime` event names the model.
    UnknownModel,
}

impl JobCost {
    /// `job`'s cost given every event of the job (all runs) and `prices`.
    pub fn of(job: &Job, events: &[Event], prices: &PriceTable) -> JobCost {
        let mut models: Vec<String> = Vec::new();
        for e in events {
            if let Event::Runtime(r) = e
                && let RuntimeEventPayload::InitializeRuntime { model, .. } = &r.payload
                && !models.contains(model)
            {
                models.push(model.clone());
            }
        }
        match models.as_slice() {
            [] => JobCost::UnknownModel,
            [model] => match prices.cost(model, &job.usage) {
                Some(usd) => JobCost::Estimated {
                    model: model.clone(),
                    usd,
                },
                None => JobCost::UnknownPrice(model.clone()),
            },
            [_, _, ..] => JobCost::SeveralModels(models),
        }
    }

    /// USD when estimated.
    pub fn usd(&self) -> Option<f64> {
        match self {
            JobCost::Estimated { usd, .. } => Some(*usd),
            JobCost::UnknownPrice(_) | JobCost::SeveralModels(_) | JobCost::UnknownModel => None,
        }
    }

    /// One line for the text summary.
    pub fn line(&self) -> String {
        match self {
            JobCost::Estimated { model, usd } => {
                format!("estimated cost: ${usd:.4} ({model}, list prices or [pricing] overrides)")
            }
            JobCost::UnknownPrice(model) => format!(
                "estimated cost: unknown (no price for model \"{model}\"; add [pricing.\"{model}\"] to perstack.toml)"
            ),
            JobCost::SeveralModels(models) => format!(
                "estimated cost: not estimated (runs used several models: {})",
                models.join(", ")
            ),
            JobCost::UnknownModel => {
                "estimated cost: unknown (no initializeRuntime event names the model)".to_string()
            }
        }
    }
}

/// The built-in prices with the overrides of `--config`, else of the perstack.toml found from
/// the current folder; without a config (or with an invalid one found by search, which
/// `perstack validate` reports) the built-in prices. An explicit config must load.
pub fn prices(explicit: Option<&Path>) -> Result<PriceTable, String> {
    let path = match config_path::resolve(explicit) {
        Ok(p) => p,
        Err(_) if explicit.is_none() => return Ok(PriceTable::builtin()),
        Err(e) => return Err(e.to_string()),
    };
    match load_config(&path) {
        Ok(loaded) => Ok(PriceTable::from_config(&loaded.config)),
        Err(_) if explicit.is_none() => Ok(PriceTable::builtin()),
        Err(e) => Err(e.to_string()),
    }
}
