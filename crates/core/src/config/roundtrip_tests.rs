//! Property tests: whatever the model can hold survives serialization to TOML and parsing
//! back — structurally for any value, and through full validation for valid configs.

use indexmap::IndexMap;
use pretty_assertions::assert_eq;
use proptest::prelude::*;

use super::model::*;
use super::source::SourceMap;
use super::{config_json_schema, parse_config, schema_check};

fn text() -> impl Strategy<Value = String> {
    // Printable text incl. quotes, backslashes, newlines and non-ASCII, which TOML must escape.
    "[a-zA-Z0-9 _.,:;!?'\"\\\\\n\t/@#éß中-]{0,40}"
}

fn ident() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}"
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Option<T>> {
    proptest::option::of(s)
}

fn list<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Option<Vec<T>>> {
    proptest::option::of(proptest::collection::vec(s, 0..3))
}

fn reasoning() -> impl Strategy<Value = ReasoningBudget> {
    prop_oneof![
        prop_oneof![
            Just(ReasoningLevel::None),
            Just(ReasoningLevel::Minimal),
            Just(ReasoningLevel::Low),
            Just(ReasoningLevel::Medium),
            Just(ReasoningLevel::High),
        ]
        .prop_map(ReasoningBudget::Level),
        (0u32..100_000).prop_map(ReasoningBudget::Tokens),
    ]
}

fn setting() -> impl Strategy<Value = ProviderSetting> {
    (
        opt(Just("https://api.example.com/v1".to_string())),
        opt(proptest::collection::vec(("[A-Za-z-]{1,8}", text()), 0..3)),
        opt(text()),
        opt(text()),
    )
        .prop_map(
            |(base_url, headers, organization, project)| ProviderSetting {
                base_url,
                headers: headers.map(|h| h.into_iter().collect()),
                organization,
                project,
                ..ProviderSetting::default()
            },
        )
}

fn stdio() -> impl Strategy<Value = StdioSkill> {
    (
        (opt(text()), opt(text()), list(ident()), list(ident())),
        ("[a-z/]{1,12}", opt(ident()), list(text())),
        (
            list("[A-Z][A-Z0-9_]{0,8}"),
            list(Just("*.example.com".to_string())),
            opt(any::<bool>()),
            opt(proptest::collection::vec(
                prop_oneof!["[a-z]{1,8}", "[a-z]{1,8}\\*"],
                0..3,
            )),
        ),
    )
        .prop_map(
            |(
                (description, rule, pick, omit),
                (command, package_name, args),
                (env, dom, lazy, approval),
            )| {
                StdioSkill {
                    description,
                    rule,
                    pick,
                    omit,
                    command,
                    package_name,
                    args,
                    required_env: env,
                    allowed_domains: dom,
                    lazy_init: lazy,
                    require_approval: approval,
                }
            },
        )
}

fn skill() -> impl Strategy<Value = SkillConfig> {
    prop_oneof![
        stdio().prop_map(SkillConfig::McpStdioSkill),
        (
            opt(text()),
            list(ident()),
            "https://[a-z]{1,8}\\.example\\.com/mcp"
        )
            .prop_map(|(description, pick, endpoint)| SkillConfig::McpSseSkill(
                RemoteSkill {
                    description,
                    pick,
                    endpoint,
                    ..RemoteSkill::default()
                }
            )),
        proptest::collection::vec((ident(), opt(text())), 1..3).prop_map(|tools| {
            SkillConfig::InteractiveSkill(InteractiveSkill {
                description: None,
                rule: None,
                tools: tools
                    .into_iter()
                    .map(|(n, d)| {
                        (
                            n,
                            InteractiveTool {
                                name: None,
                                description: d,
                                input_json_schema: r#"{"type":"object"}"#.to_string(),
                            },
                        )
                    })
                    .collect(),
            })
        }),
    ]
}

fn expert() -> impl Strategy<Value = ExpertConfig> {
    (
        (
            opt(Just("1.2.3".to_string())),
            opt(text()),
            "[a-zA-Z][a-zA-Z .\n]{0,60}",
        ),
        opt(proptest::collection::vec((ident(), skill()), 0..3)),
        (list(ident()), list(ident())),
    )
        .prop_map(
            |((version, description, instruction), skills, (delegates, tags))| ExpertConfig {
                version,
                description,
                instruction,
                skills: skills.map(|s| s.into_iter().collect::<IndexMap<_, _>>()),
                delegates,
                tags,
                ..ExpertConfig::default()
            },
        )
}

fn config() -> impl Strategy<Value = PerstackConfig> {
    (
        (
            opt(ident()),
            opt(reasoning()),
            opt(1u32..1000),
            opt(0u32..20),
            opt(1u64..1_000_000),
        ),
        (
            opt((
                prop_oneof![Just(ProviderName::OpenAi), Just(ProviderName::Anthropic)],
                opt(setting()),
            )),
            list(text()),
        ),
        proptest::collection::vec(("[a-z][a-z0-9-]{0,8}", expert()), 0..4),
    )
        .prop_map(
            |((model, rb, max_steps, max_retries, timeout), (provider, env_path), experts)| {
                PerstackConfig {
                    provider: provider.map(|(provider_name, setting)| ProviderTable {
                        provider_name,
                        setting,
                        env_path: None,
                    }),
                    model,
                    reasoning_budget: rb,
                    max_steps,
                    max_retries,
                    timeout,
                    env_path,
                    experts: experts.into_iter().collect(),
                    ..PerstackConfig::default()
                }
            },
        )
}

/// Makes a generated config semantically valid (what `parse_config` demands beyond shape).
fn make_valid(mut c: PerstackConfig) -> PerstackConfig {
    if let Some(p) = &mut c.provider
        && p.provider_name == ProviderName::Anthropic
        && let Some(s) = &mut p.setting
    {
        s.organization = None;
        s.project = None;
    }
    let keys: Vec<String> = c.experts.keys().cloned().collect();
    for (key, e) in c.experts.iter_mut() {
        e.description = Some("Does things.".to_string());
        e.tags = None;
        // Delegates: other experts only, each once; their names must not collide with tools.
        let delegates: Vec<String> = keys.iter().filter(|k| *k != key).cloned().collect();
        e.delegates = if delegates.is_empty() {
            None
        } else {
            Some(delegates)
        };
        if let Some(skills) = &mut e.skills {
            let mut tool_names: Vec<String> = keys.clone();
            for (_, s) in skills.iter_mut() {
                match s {
                    SkillConfig::McpStdioSkill(st) => {
                        if st.args.is_some() {
                            st.package_name = None;
                        } else if st.package_name.is_none() {
                            st.args = Some(vec![]);
                        }
                        st.rule = None;
                        st.description = None;
                        st.args = st.args.take().map(|_| vec!["--stdio".to_string()]);
                    }
                    SkillConfig::McpSseSkill(r) => r.description = None,
                    SkillConfig::InteractiveSkill(i) => {
                        i.tools.retain(|name, _| {
                            let fresh = !tool_names.contains(name);
                            tool_names.push(name.clone());
                            fresh
                        });
                        if i.tools.is_empty() {
                            i.tools.insert(
                                format!("tool-{}", tool_names.len()),
                                InteractiveTool {
                                    name: None,
                                    description: None,
                                    input_json_schema: r#"{"type":"object"}"#.to_string(),
                                },
                            );
                        }
                    }
                }
            }
        }
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The structural check never rejects a value the model can serialize, and serde gives
    /// back the same value.
    #[test]
    fn any_model_value_round_trips_structurally(c in config()) {
        let text = toml::to_string(&c).expect("serializes");
        let (value, map) = SourceMap::parse("p.toml", &text).expect("parses");
        let diags = schema_check::check(&config_json_schema(), &value, &map).diags;
        prop_assert!(diags.is_empty(), "{:?}\n{}", diags, text);
        let back: PerstackConfig = serde_json::from_value(value).expect("deserializes");
        assert_eq!(back, c);
    }

    /// Valid configs pass full validation unchanged.
    #[test]
    fn valid_configs_round_trip_through_validation(c in config().prop_map(make_valid)) {
        let text = toml::to_string(&c).expect("serializes");
        match parse_config("p.toml", &text) {
            Ok((back, _warnings)) => assert_eq!(back, c),
            Err(d) => prop_assert!(false, "{}\n---\n{}", d, text),
        }
    }
}
