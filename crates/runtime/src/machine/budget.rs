//! The job budgets checked after each step: tokens and estimated cost.

use perstack_core::Usage;
use perstack_events::BudgetExceeded;

use crate::setting::RunSetting;

/// The first budget of `setting` that `usage` (the job's, delegates included) has reached,
/// with the `reason` text of `stopRunByBudget`.
pub(super) fn exceeded(setting: &RunSetting, usage: &Usage) -> Option<(String, BudgetExceeded)> {
    if let Some(limit) = setting.max_total_tokens
        && usage.total_tokens >= limit
    {
        let used = usage.total_tokens;
        let reason = format!("maxTotalTokens {limit} reached: {used} tokens used");
        return Some((reason, BudgetExceeded::Tokens { limit, used }));
    }
    // The price was checked when the execution started; a model without one has no cost.
    if let Some(limit) = setting.max_total_cost
        && let Some(price) = setting.prices.get(&setting.model)
    {
        let used = price.cost(usage);
        if used >= limit {
            let model = setting.model.clone();
            let reason = format!(
                "maxTotalCost ${limit} reached: ${used:.4} spent (estimated at {model}'s price)"
            );
            return Some((reason, BudgetExceeded::Cost { limit, used, model }));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use perstack_core::config::PerstackConfig;
    use perstack_core::{ModelPrice, PriceTable};
    use pretty_assertions::assert_eq;

    fn setting() -> RunSetting {
        let mut s = RunSetting::from_config(
            &PerstackConfig::default(),
            "e",
            "m",
            crate::RunInput::query("q"),
        );
        let mut prices = PriceTable::empty();
        prices.insert(
            "m",
            ModelPrice {
                input: 1.0,
                output: 2.0,
                cache_read: 0.5,
                cache_write: 1.0,
            },
        );
        s.prices = prices;
        s
    }

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: input + output,
            ..Usage::default()
        }
    }

    #[test]
    fn no_budget_never_stops() {
        assert_eq!(exceeded(&setting(), &usage(u64::MAX / 2, 0)), None);
    }

    #[test]
    fn cost_budget_stops_once_the_estimate_reaches_it() {
        let mut s = setting();
        s.max_total_cost = Some(3.0);
        assert_eq!(exceeded(&s, &usage(1_000_000, 999_999)), None);
        let (reason, budget) = exceeded(&s, &usage(1_000_000, 1_000_000)).unwrap();
        assert_eq!(
            budget,
            BudgetExceeded::Cost {
                limit: 3.0,
                used: 3.0,
                model: "m".into()
            }
        );
        assert_eq!(
            reason,
            "maxTotalCost $3 reached: $3.0000 spent (estimated at m's price)"
        );
    }

    #[test]
    fn the_token_budget_is_reported_first() {
        let mut s = setting();
        s.max_total_cost = Some(0.0);
        s.max_total_tokens = Some(10);
        let (reason, budget) = exceeded(&s, &usage(10, 0)).unwrap();
        assert_eq!(
            budget,
            BudgetExceeded::Tokens {
                limit: 10,
                used: 10
            }
        );
        assert_eq!(reason, "maxTotalTokens 10 reached: 10 tokens used");
    }
}
