use super::*;
use crate::config::parse_config;
use pretty_assertions::assert_eq;
use proptest::prelude::*;

fn price(input: f64, output: f64, cache_read: f64, cache_write: f64) -> ModelPrice {
    ModelPrice {
        input,
        output,
        cache_read,
        cache_write,
    }
}

fn usage(input: u64, cached: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        reasoning_tokens: 0,
        total_tokens: input + output,
        cached_input_tokens: cached,
        cache_write_input_tokens: 0,
    }
}

#[test]
fn builtin_table_parses_and_covers_the_three_providers() {
    let t = PriceTable::builtin();
    assert!(t.iter().count() > 20, "{t:?}");
    for model in ["claude-sonnet-4-5", "gpt-5", "gemini-2.5-pro"] {
        assert!(t.get(model).is_some(), "{model}");
    }
    for (model, p) in t.iter() {
        for v in [p.input, p.output, p.cache_read, p.cache_write] {
            assert!(v.is_finite() && v >= 0.0, "{model}: {p:?}");
        }
        assert!(
            p.cache_read <= p.input,
            "{model}: a cache read costs more than input"
        );
    }
}

#[test]
fn exact_id_wins_over_prefix() {
    let mut t = PriceTable::empty();
    t.insert("m", price(1.0, 1.0, 1.0, 1.0));
    t.insert("m-2025", price(2.0, 2.0, 2.0, 2.0));
    assert_eq!(t.get("m-2025"), Some(&price(2.0, 2.0, 2.0, 2.0)));
    assert_eq!(t.get("m"), Some(&price(1.0, 1.0, 1.0, 1.0)));
}

#[test]
fn dated_ids_take_the_longest_matching_prefix() {
    let t = PriceTable::builtin();
    assert_eq!(
        t.get("claude-sonnet-4-5-20250929"),
        t.get("claude-sonnet-4-5")
    );
    assert_eq!(
        t.get("claude-haiku-4-5@20251001"),
        t.get("claude-haiku-4-5")
    );
    assert_eq!(t.get("gpt-5-mini-2025-08-07"), t.get("gpt-5-mini"));
    assert_eq!(t.get("gpt-4o-mini-2024-07-18"), t.get("gpt-4o-mini"));
    assert_eq!(
        t.get("gemini-2.5-flash-lite-preview"),
        t.get("gemini-2.5-flash-lite")
    );
    assert_ne!(t.get("gpt-5-mini"), t.get("gpt-5"));
}

#[test]
fn a_prefix_must_end_at_a_separator() {
    let mut t = PriceTable::empty();
    t.insert("gpt-4", price(30.0, 60.0, 30.0, 30.0));
    assert_eq!(t.get("gpt-4o"), None);
    assert_eq!(t.get("gpt-4.1"), None);
    assert!(t.get("gpt-4-0613").is_some());
    // Unknown successors of known models stay unknown rather than mispriced.
    assert_eq!(PriceTable::builtin().get("claude-opus-4-9"), None);
    assert_eq!(PriceTable::builtin().get("no-such-model"), None);
}

#[test]
fn provider_paths_are_ignored_when_the_full_id_is_unknown() {
    let t = PriceTable::builtin();
    assert_eq!(t.get("models/gemini-2.5-pro"), t.get("gemini-2.5-pro"));
    assert_eq!(t.get("openai/gpt-5"), t.get("gpt-5"));
}

#[test]
fn cost_splits_cached_input_and_counts_reasoning_once() {
    let p = price(3.0, 15.0, 0.3, 3.75);
    // 1M input of which 400k cached, 100k output (reasoning included in output).
    let mut u = usage(1_000_000, 400_000, 100_000);
    u.reasoning_tokens = 50_000;
    let expected = 0.6 * 3.0 + 0.4 * 0.3 + 0.1 * 15.0;
    assert!((p.cost(&u) - expected).abs() < 1e-9, "{}", p.cost(&u));
    assert_eq!(p.cost(&Usage::default()), 0.0);
    // A malformed report (more cached than input) is not negative.
    assert!(p.cost(&usage(10, 20, 0)) >= 0.0);
}

#[test]
fn cost_of_prices_every_class() {
    let p = price(1.0, 2.0, 3.0, 4.0);
    let t = TokenCounts {
        input: 1_000_000,
        cache_read: 2_000_000,
        cache_write: 3_000_000,
        output: 4_000_000,
    };
    assert_eq!(p.cost_of(t), 1.0 + 6.0 + 12.0 + 8.0);
}

#[test]
fn table_cost_is_none_for_an_unknown_model() {
    let t = PriceTable::builtin();
    assert_eq!(t.cost("mystery", &usage(1, 0, 1)), None);
    let sonnet = t.cost("claude-sonnet-4-5", &usage(1_000_000, 0, 0));
    assert_eq!(sonnet, Some(3.0));
}

#[test]
fn config_overrides_merge_over_the_builtin_table() {
    let (config, _) = parse_config(
        "perstack.toml",
        r#"
[pricing."claude-sonnet-4-5"]
input = 2.0
output = 10.0

[pricing."my-local-model"]
input = 0.5
output = 1.5
cacheRead = 0.1

[experts."w"]
instruction = "Write."
"#,
    )
    .unwrap();
    let t = PriceTable::from_config(&config);
    // Cache prices left out keep the built-in figures of the model.
    assert_eq!(
        t.get("claude-sonnet-4-5-20250929"),
        Some(&price(2.0, 10.0, 0.3, 3.75))
    );
    // A new model: cacheWrite defaults to input.
    assert_eq!(t.get("my-local-model"), Some(&price(0.5, 1.5, 0.1, 0.5)));
    assert_eq!(t.get("my-local-model:q4"), Some(&price(0.5, 1.5, 0.1, 0.5)));
    // Others are untouched.
    assert_eq!(t.get("gpt-5"), PriceTable::builtin().get("gpt-5"));
}

#[test]
fn an_override_of_a_dated_id_starts_from_its_prefix_entry() {
    let mut o = IndexMap::new();
    o.insert(
        "claude-haiku-4-5-20251001".to_string(),
        PriceOverride {
            input: 0.9,
            output: 4.5,
            cache_read: None,
            cache_write: None,
        },
    );
    let t = PriceTable::builtin().with_overrides(&o);
    assert_eq!(
        t.get("claude-haiku-4-5-20251001"),
        Some(&price(0.9, 4.5, 0.1, 1.25))
    );
    assert_eq!(t.get("claude-haiku-4-5"), Some(&price(1.0, 5.0, 0.1, 1.25)));
}

fn any_price() -> impl Strategy<Value = ModelPrice> {
    (
        0.0..1000.0f64,
        0.0..1000.0f64,
        0.0..1000.0f64,
        0.0..1000.0f64,
    )
        .prop_map(|(a, b, c, d)| price(a, b, c, d))
}

fn any_counts() -> impl Strategy<Value = TokenCounts> {
    (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c, d)| TokenCounts {
        input: a,
        cache_read: b,
        cache_write: c,
        output: d,
    })
}

proptest! {
    #[test]
    fn cost_is_finite_non_negative_and_monotone_in_each_count(
        p in any_price(),
        t in any_counts(),
        which in 0usize..4,
        extra in any::<u64>(),
    ) {
        let c = p.cost_of(t);
        prop_assert!(c.is_finite() && c >= 0.0, "{c}");
        let mut more = t;
        let field = match which {
            0 => &mut more.input,
            1 => &mut more.cache_read,
            2 => &mut more.cache_write,
            _ => &mut more.output,
        };
        *field = field.saturating_add(extra);
        prop_assert!(p.cost_of(more) >= c, "{more:?} cost less than {t:?}");
    }

    #[test]
    fn usage_cost_is_finite_non_negative_and_monotone_in_input_and_output(
        p in any_price(),
        input in any::<u64>(),
        cached in any::<u64>(),
        output in any::<u64>(),
        extra in any::<u64>(),
    ) {
        let u = Usage {
            input_tokens: input,
            output_tokens: output,
            reasoning_tokens: 0,
            total_tokens: input.saturating_add(output),
            cached_input_tokens: cached,
            cache_write_input_tokens: 0,
        };
        let c = p.cost(&u);
        prop_assert!(c.is_finite() && c >= 0.0, "{c}");
        let more_in = Usage { input_tokens: input.saturating_add(extra), ..u };
        let more_out = Usage { output_tokens: output.saturating_add(extra), ..u };
        prop_assert!(p.cost(&more_in) >= c);
        prop_assert!(p.cost(&more_out) >= c);
    }
}

#[test]
fn cache_writes_are_priced_at_their_own_rate_and_not_again_as_input() {
    // 1M input tokens: 200k read from the cache, 300k written to it, 500k plain; 10k output.
    let u = Usage {
        cache_write_input_tokens: 300_000,
        ..usage(1_000_000, 200_000, 10_000)
    };
    assert_eq!(
        TokenCounts::from(&u),
        TokenCounts {
            input: 500_000,
            cache_read: 200_000,
            cache_write: 300_000,
            output: 10_000,
        }
    );
    let p = price(3.0, 15.0, 0.3, 3.75);
    // 0.5 * 3 + 0.2 * 0.3 + 0.3 * 3.75 + 0.01 * 15
    let expected = 1.5 + 0.06 + 1.125 + 0.15;
    assert!((p.cost(&u) - expected).abs() < 1e-9, "{}", p.cost(&u));
}
