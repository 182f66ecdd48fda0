//! Perstack's own configs pass `perstack validate` (warnings allowed): the e2e fixtures,
//! examples and documentation snippets of Perstack's repository (perstack-ai/perstack),
//! reproduced feature by feature in `tests/fixtures/perstack_configs/*.toml` (each file names
//! its sources). Perstack keys that Perstack loads but this runtime does not act on load with
//! a warning naming the key; the test prints them.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::Output;

use pretty_assertions::assert_eq;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/perstack_configs")
}

fn validate(config: &Path) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_perstack"))
        .arg("validate")
        .arg("--config")
        .arg(config)
        .current_dir(cwd.path())
        .env_remove("PERSTACK_CONFIG")
        .env_remove("PERSTACK_LOG")
        .output()
        .unwrap()
}

/// `line:column key.path` of every warning `perstack validate` printed.
fn warnings(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| {
            let (place, rest) = l.split_once(": warning: ")?;
            let (_, line_col) = place.split_once(".toml:")?;
            let path = rest.split(": ").next()?;
            Some(format!("{line_col} {path}"))
        })
        .collect()
}

#[test]
fn perstacks_fixtures_examples_and_reference_snippets_validate() {
    let expected: &[(&str, &[&str])] = &[
        (
            "docs_guides.toml",
            &["9:11 runtime", "79:1 experts.\"researcher\""],
        ),
        ("e2e_base_health_check.toml", &["13:11 provider.envPath"]),
        ("e2e_defaults.toml", &[]),
        (
            "e2e_interactive_and_mixed.toml",
            &[
                "12:11 provider.envPath",
                "38:8 experts.\"mixed\".skills.\"user-input\".tools.\"askUser\".name",
                "46:30 experts.\"mixed\".skills.\"@perstack/base\".pick[1]",
            ],
        ),
        ("e2e_provider_env_path.toml", &["13:11 provider.envPath"]),
        (
            "e2e_sandbox_and_errors.toml",
            &[
                "13:11 provider.envPath",
                "58:14 experts.\"invalid-delegate\".delegates[0]",
            ],
        ),
        (
            "examples.toml",
            &[
                "41:9 experts.\"inbox-searcher\".skills.\"@perstack/base\".pick[0]",
                "66:3 experts.\"composer\".skills.\"@perstack/base\".pick[6]",
            ],
        ),
        (
            "reference_complete.toml",
            &[
                "12:11 runtime",
                "31:14 experts.\"reviewer\".delegates[0]",
                "31:38 experts.\"reviewer\".delegates[1]",
                "76:14 experts.\"researcher\".delegates[0]",
            ],
        ),
    ];
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    let listed: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names, listed,
        "every fixture has its expected warnings here"
    );
    let mut got = Vec::new();
    println!("Perstack keys that load with a warning:");
    for (name, _) in expected {
        let out = validate(&fixtures().join(name));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let w = warnings(&out);
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            println!("  {line}");
        }
        got.push((*name, w));
    }
    let want: Vec<(&str, Vec<String>)> = expected
        .iter()
        .map(|(n, w)| (*n, w.iter().map(|s| (*s).to_string()).collect()))
        .collect();
    assert_eq!(got, want);
}

/// Perstack's providers-and-models reference (docs/references/providers-and-models.md):
/// each provider's `[provider.setting]` snippet, written here per provider.
#[test]
fn every_providers_reference_setting_validates_without_warnings() {
    let settings = [
        (
            "anthropic",
            "baseUrl = \"https://custom-endpoint.example.com\"\nheaders = { \"X-Custom-Header\" = \"value\" }",
        ),
        (
            "google",
            "baseUrl = \"https://custom-endpoint.example.com\"\nheaders = { \"X-Custom-Header\" = \"value\" }",
        ),
        (
            "openai",
            "baseUrl = \"https://custom-endpoint.example.com\"\norganization = \"org-xxx\"\nproject = \"proj-xxx\"\nname = \"custom-openai\"\nheaders = { \"X-Custom-Header\" = \"value\" }",
        ),
        (
            "deepseek",
            "baseUrl = \"https://custom-endpoint.example.com\"",
        ),
        (
            "ollama",
            "baseUrl = \"http://localhost:11434\"\nheaders = { \"X-Custom-Header\" = \"value\" }",
        ),
        (
            "azure-openai",
            "resourceName = \"your-resource-name\"\napiVersion = \"2024-02-15-preview\"\nbaseUrl = \"https://custom-endpoint.example.com\"\nuseDeploymentBasedUrls = true",
        ),
        ("amazon-bedrock", "region = \"us-east-1\""),
        (
            "google-vertex",
            "project = \"my-gcp-project\"\nlocation = \"us-central1\"\nbaseUrl = \"https://custom-endpoint.example.com\"",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (provider, setting) in settings {
        let path = dir.path().join(format!("{provider}.toml"));
        std::fs::write(
            &path,
            format!(
                "model = \"gemini-2.5-pro\"\n\n[provider]\nproviderName = \"{provider}\"\n[provider.setting]\n{setting}\n\n[experts.\"assistant\"]\ninstruction = \"Help.\"\n"
            ),
        )
        .unwrap();
        let out = validate(&path);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            (out.status.code(), stderr.as_ref()),
            (Some(0), ""),
            "{provider}"
        );
    }
}

/// With no `model`, Perstack runs claude-sonnet-4-5 (apps/perstack/src/lib/context.ts); so
/// does this runtime, and `validate` says so.
#[test]
fn no_model_means_claude_sonnet_4_5() {
    let out = validate(&fixtures().join("e2e_defaults.toml"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.ends_with("(2 experts, provider anthropic, model claude-sonnet-4-5 (the default))"),
        "{first}"
    );
}
