//! The run's environment resolved as Perstack's CLI resolves it (`getEnv` in
//! `apps/perstack/src/lib/get-env.ts` of Perstack's repository: the process environment
//! without empty values, then dotenv over `--env-path`, else the config's `envPath`, else
//! `.env` and `.env.local`, paths from the current folder, never overriding). The process
//! environment is passed in, never mutated.

use std::path::{Path, PathBuf};

use perstack_core::config::{PerstackConfig, parse_config};
use perstack_core::env_file::RunEnv;
use pretty_assertions::assert_eq;

fn config(text: &str) -> PerstackConfig {
    parse_config("perstack.toml", text)
        .map(|(c, _)| c)
        .unwrap_or_default()
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn resolve(
    cwd: &Path,
    flags: &[PathBuf],
    config: &PerstackConfig,
    process: &[(&str, &str)],
) -> Vec<(String, String)> {
    RunEnv::resolve(cwd, flags, config, vars(process))
        .map(|e| e.into_vars().into_iter().collect())
        .unwrap_or_default()
}

#[test]
fn process_then_env_then_env_local_nothing_overrides() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join(".env"), "A=env\nB=env\nE=env\n").unwrap();
    std::fs::write(cwd.path().join(".env.local"), "B=local\nC=local\nE=local\n").unwrap();
    let got = resolve(
        cwd.path(),
        &[],
        &PerstackConfig::default(),
        &[("A", "process"), ("E", ""), ("P", "process")],
    );
    assert_eq!(
        got,
        vars(&[
            ("A", "process"),
            ("B", "env"),
            ("C", "local"),
            ("E", "env"),
            ("P", "process"),
        ])
    );
}

#[test]
fn env_path_flags_replace_the_configs_env_path_which_replaces_the_defaults() {
    let cwd = tempfile::tempdir().unwrap();
    for (name, text) in [
        (".env", "X=default\n"),
        ("config.env", "X=config\nY=config\n"),
        ("flag.env", "X=flag\n"),
    ] {
        std::fs::write(cwd.path().join(name), text).unwrap();
    }
    let with_env_path = config("envPath = [\"config.env\"]\n");
    assert_eq!(
        resolve(cwd.path(), &[], &with_env_path, &[]),
        vars(&[("X", "config"), ("Y", "config")])
    );
    assert_eq!(
        resolve(cwd.path(), &["flag.env".into()], &with_env_path, &[]),
        vars(&[("X", "flag")])
    );
    assert_eq!(
        resolve(cwd.path(), &[], &PerstackConfig::default(), &[]),
        vars(&[("X", "default")])
    );
}

#[test]
fn env_files_are_read_from_the_current_folder_not_the_configs() {
    let cwd = tempfile::tempdir().unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    std::fs::write(config_dir.path().join(".env"), "FROM=config-dir\n").unwrap();
    std::fs::write(cwd.path().join(".env"), "FROM=cwd\n").unwrap();
    let env = RunEnv::resolve(cwd.path(), &[], &PerstackConfig::default(), []).unwrap();
    assert_eq!(env.vars().get("FROM").map(String::as_str), Some("cwd"));
    assert_eq!(env.loaded(), [cwd.path().join(".env")]);
}

#[test]
fn envpath_under_provider_loads_nothing_but_its_files_are_protected() {
    let cwd = tempfile::tempdir().unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("provider.env"), "SECRET=1\n").unwrap();
    let c = config(
        "[provider]\nproviderName = \"anthropic\"\nenvPath = [\"provider.env\", \".env\"]\n",
    );
    let env = RunEnv::resolve(cwd.path(), &[], &c, []).unwrap();
    assert_eq!(env.vars().get("SECRET"), None);
    assert_eq!(
        env.files_to_protect(cwd.path(), config_dir.path(), &c),
        [
            cwd.path().join(".env"),
            cwd.path().join(".env.local"),
            config_dir.path().join(".env"),
            config_dir.path().join(".env.local"),
            cwd.path().join("provider.env"),
        ]
    );
}

#[test]
fn an_env_file_that_is_not_a_regular_file_is_refused() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join(".env")).unwrap();
    let err = RunEnv::resolve(cwd.path(), &[], &PerstackConfig::default(), []).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
}
