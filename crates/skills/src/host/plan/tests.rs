use super::*;
use perstack_core::config::InteractiveTool;
use pretty_assertions::assert_eq;

fn stdio(command: &str, package: Option<&str>, args: Option<&[&str]>) -> StdioSkill {
    StdioSkill {
        command: command.into(),
        package_name: package.map(str::to_string),
        args: args.map(|a| a.iter().map(|s| s.to_string()).collect()),
        ..StdioSkill::default()
    }
}

fn expert(skills: Option<Vec<(&str, SkillConfig)>>, delegates: &[&str]) -> ExpertConfig {
    ExpertConfig {
        instruction: "x".into(),
        skills: skills.map(|s| s.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
        delegates: (!delegates.is_empty())
            .then(|| delegates.iter().map(|s| s.to_string()).collect()),
        ..ExpertConfig::default()
    }
}

#[test]
fn launch_rules() {
    let l = Launch::of("s", &stdio("npx", Some("@scope/server"), None)).unwrap();
    assert_eq!(l.args, vec!["-y", "@scope/server"]);
    assert!(l.via_package);
    let l = Launch::of("s", &stdio("uvx", Some("mcp-server-time"), None)).unwrap();
    assert_eq!(
        (l.command.as_str(), l.args),
        ("uvx", vec!["mcp-server-time".to_string()])
    );
    let l = Launch::of("s", &stdio("npx", None, Some(&["-y", "pkg"]))).unwrap();
    assert_eq!(l.args, vec!["-y", "pkg"]);
    assert!(!l.via_package);
    let l = Launch::of("s", &stdio("/usr/bin/npx", None, Some(&["pkg"]))).unwrap();
    assert_eq!(l.args, vec!["-y", "pkg"]);
    let l = Launch::of("s", &stdio("./server", None, None)).unwrap();
    assert_eq!(l.args, Vec::<String>::new());
    let err = Launch::of("s", &stdio("npx", Some("a"), Some(&["b"]))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "skill \"s\": give packageName or args, not both"
    );
}

#[test]
fn filter_omits_then_picks() {
    let f = ToolFilter {
        omit: vec!["b".into()],
        pick: vec!["a".into(), "b".into()],
    };
    assert!(f.keeps("a"));
    assert!(!f.keeps("b"));
    assert!(!f.keeps("c"));
    assert!(ToolFilter::default().keeps("anything"));
    assert_eq!(f.unknown_names(&["a", "c"]), vec!["b", "b"]);
}

#[test]
fn no_skills_means_the_base_skill() {
    let planned = plan(&expert(None, &[]), &IndexMap::new()).unwrap();
    assert_eq!(
        planned,
        vec![PlannedSkill::Base {
            name: BASE_SKILL_NAME.into(),
            filter: ToolFilter::default()
        }]
    );
}

#[test]
fn perstack_base_declaration_is_served_by_ours() {
    let mut base = stdio("npx", Some("@perstack/base"), None);
    base.pick = Some(vec!["readTextFile".into()]);
    let versioned = stdio("npx", None, Some(&["-y", "@perstack/base@0.0.34"]));
    let e = expert(
        Some(vec![
            ("@perstack/base", SkillConfig::McpStdioSkill(base)),
            ("files", SkillConfig::McpStdioSkill(versioned)),
            (
                "other",
                SkillConfig::McpStdioSkill(stdio("npx", Some("@other/pkg"), None)),
            ),
        ]),
        &[],
    );
    let planned = plan(&e, &IndexMap::new()).unwrap();
    assert_eq!(
        planned[0],
        PlannedSkill::Base {
            name: "@perstack/base".into(),
            filter: ToolFilter {
                omit: vec![],
                pick: vec!["readTextFile".into()]
            }
        }
    );
    assert!(matches!(&planned[1], PlannedSkill::Base { name, .. } if name == "files"));
    assert!(matches!(&planned[2], PlannedSkill::Stdio { name, .. } if name == "other"));
}

#[test]
fn interactive_tools_and_delegates() {
    let mut tools = IndexMap::new();
    tools.insert(
        "askUser".to_string(),
        InteractiveTool {
            name: None,
            description: Some("Ask".into()),
            input_json_schema: r#"{"type":"object","properties":{"q":{"type":"string"}}}"#.into(),
        },
    );
    let interactive = SkillConfig::InteractiveSkill(InteractiveSkill {
        tools,
        rule: Some("Ask only when stuck.".into()),
        ..InteractiveSkill::default()
    });
    let e = expert(Some(vec![("ui", interactive)]), &["@team/researcher"]);
    let mut experts = IndexMap::new();
    experts.insert(
        "@team/researcher".to_string(),
        ExpertConfig {
            instruction: "r".into(),
            description: Some("Finds things".into()),
            ..ExpertConfig::default()
        },
    );
    let planned = plan(&e, &experts).unwrap();
    assert_eq!(
        planned,
        vec![
            PlannedSkill::Interactive {
                name: "ui".into(),
                tools: vec![ToolDefinition {
                    skill_name: "ui".into(),
                    name: "askUser".into(),
                    description: Some("Ask".into()),
                    input_schema: json!({"type":"object","properties":{"q":{"type":"string"}}}).into(),
                }]
            },
            PlannedSkill::Delegate {
                expert_key: "@team/researcher".into(),
                tool: ToolDefinition {
                    skill_name: "@team/researcher".into(),
                    name: "researcher".into(),
                    description: Some("Finds things".into()),
                    input_schema: json!({"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}).into(),
                }
            }
        ]
    );
    assert_eq!(
        rules(&e),
        vec![SkillRule {
            skill_name: "ui".into(),
            rule: "Ask only when stuck.".into()
        }]
    );
    let missing = plan(&expert(None, &["nobody"]), &IndexMap::new()).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "skill \"nobody\": delegate expert not found in the config"
    );
}

#[test]
fn bad_interactive_schema_is_a_config_error() {
    let mut tools = IndexMap::new();
    tools.insert(
        "t".to_string(),
        InteractiveTool {
            name: None,
            description: None,
            input_json_schema: "{not json".into(),
        },
    );
    let e = expert(
        Some(vec![(
            "ui",
            SkillConfig::InteractiveSkill(InteractiveSkill {
                tools,
                ..InteractiveSkill::default()
            }),
        )]),
        &[],
    );
    let err = plan(&e, &IndexMap::new()).unwrap_err();
    assert!(
        matches!(err, SkillError::Config { ref skill, .. } if skill == "ui"),
        "{err}"
    );
}
