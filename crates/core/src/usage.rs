//! Token usage.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Token usage of one generation, step, run or job (Perstack's `Usage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Tokens in the input prompt.
    pub input_tokens: u64,
    /// Tokens generated.
    pub output_tokens: u64,
    /// Tokens spent on reasoning (extended thinking).
    pub reasoning_tokens: u64,
    /// Input plus output tokens.
    pub total_tokens: u64,
    /// Input tokens served from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Input tokens written to the provider's prompt cache (Anthropic's cache creation),
    /// included in `inputTokens`. Our addition, left out of the JSON when 0 so the shape stays
    /// Perstack's; it lets cost estimates price cache writes at their own rate.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_input_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl std::ops::Add for Usage {
    type Output = Usage;

    /// Field-wise saturating sum, used to accumulate step usage into run and job usage.
    fn add(self, other: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_add(other.input_tokens),
            output_tokens: self.output_tokens.saturating_add(other.output_tokens),
            reasoning_tokens: self.reasoning_tokens.saturating_add(other.reasoning_tokens),
            total_tokens: self.total_tokens.saturating_add(other.total_tokens),
            cached_input_tokens: self
                .cached_input_tokens
                .saturating_add(other.cached_input_tokens),
            cache_write_input_tokens: self
                .cache_write_input_tokens
                .saturating_add(other.cache_write_input_tokens),
        }
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, rhs: Usage) {
        *self = *self + rhs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn add_is_fieldwise_and_saturates() {
        let mut u = Usage {
            input_tokens: 1,
            output_tokens: 2,
            reasoning_tokens: 3,
            total_tokens: u64::MAX,
            cached_input_tokens: 5,
            cache_write_input_tokens: 7,
        };
        u += Usage {
            input_tokens: 10,
            output_tokens: 20,
            reasoning_tokens: 30,
            total_tokens: 1,
            cached_input_tokens: 50,
            cache_write_input_tokens: 70,
        };
        assert_eq!(
            u,
            Usage {
                input_tokens: 11,
                output_tokens: 22,
                reasoning_tokens: 33,
                total_tokens: u64::MAX,
                cached_input_tokens: 55,
                cache_write_input_tokens: 77,
            }
        );
    }

    #[test]
    fn the_cache_write_count_is_left_out_when_zero_so_the_shape_stays_perstacks() {
        let u = Usage {
            input_tokens: 1,
            output_tokens: 2,
            reasoning_tokens: 0,
            total_tokens: 3,
            cached_input_tokens: 0,
            cache_write_input_tokens: 0,
        };
        let v = serde_json::to_value(u).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"inputTokens": 1, "outputTokens": 2, "reasoningTokens": 0,
                "totalTokens": 3, "cachedInputTokens": 0})
        );
        let back: Usage = serde_json::from_value(v).unwrap();
        assert_eq!(back, u);
        let written = Usage {
            cache_write_input_tokens: 9,
            ..u
        };
        let v = serde_json::to_value(written).unwrap();
        assert_eq!(v["cacheWriteInputTokens"], 9);
        assert_eq!(serde_json::from_value::<Usage>(v).unwrap(), written);
    }
}
