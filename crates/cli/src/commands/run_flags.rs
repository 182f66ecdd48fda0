//! Perstack's `--env` and `--runtime` for the commands that run an Expert.

use std::collections::BTreeMap;
use std::path::Path;

use perstack_core::config::ProviderName;

use crate::cli::{RunArgs, RuntimeArg};
use crate::render::shell_word;

/// The variables `--env` hands to every stdio skill and `exec` child, in addition to the
/// safe list and each skill's `requiredEnv`: `NAME` passes the runtime's value (the process
/// environment overlaid by the env files, as Perstack's `--env NAME`), `NAME=VALUE` sets one.
pub(crate) fn passed_env(
    flags: &[String],
    env: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut passed = BTreeMap::new();
    for flag in flags {
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag.as_str(), None),
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "--env {flag:?}: expected NAME or NAME=VALUE, NAME made of letters, digits and \
                 '_' (e.g. --env NPM_TOKEN or --env REGION=eu-west-1)"
            ));
        }
        if let Some(reason) = perstack_sandbox::env::refusal_reason(name) {
            return Err(format!(
                "--env {name}: refused, {name} is never passed to skills ({reason})"
            ));
        }
        let value = match value {
            Some(v) => v.to_string(),
            None => env.get(name).cloned().ok_or_else(|| {
                format!(
                    "--env {name}: {name} is not set in the environment or the env files; \
                     export it, add it to an env file (--env-path), or give the value: \
                     --env {name}=VALUE"
                )
            })?,
        };
        passed.insert(name.to_string(), value);
    }
    Ok(passed)
}

/// `--runtime`: `local` (the default) runs here; anything else is refused with what to do.
pub(crate) fn check_runtime(
    args: &RunArgs,
    config: &Path,
    provider: ProviderName,
) -> Result<(), String> {
    match args.options.runtime {
        None | Some(RuntimeArg::Local) => Ok(()),
        Some(RuntimeArg::Docker) => Err(docker_instructions(args, config, provider)),
        Some(other @ (RuntimeArg::Cursor | RuntimeArg::ClaudeCode | RuntimeArg::Gemini)) => {
            Err(format!(
                "--runtime {}: Perstack's external agent adapters (cursor, claude-code, gemini) \
             are not part of this runtime; use --runtime local (the default: this process, \
             with exec and stdio skills confined) or --runtime docker (the container image)",
                other.name()
            ))
        }
    }
}

/// Why `--runtime docker` does not start a container, and the two `docker run` commands
/// that run this Expert in the hardened image behind `perstack proxy` (docs/container.md).
fn docker_instructions(args: &RunArgs, config: &Path, provider: ProviderName) -> String {
    let abs = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let config = shell_word(&abs(config));
    let workspace = shell_word(&abs(args
        .options
        .workspace
        .as_deref()
        .unwrap_or(Path::new("."))));
    let key = super::why::key_var(provider)
        .map(|v| format!(" -e {v}"))
        .unwrap_or_default();
    let passed: String = args
        .options
        .env
        .iter()
        .map(|e| format!(" -e {}", shell_word(e)))
        .collect();
    let state = args
        .options
        .storage
        .state_dir
        .as_deref()
        .map(|d| {
            format!(
                " -v {}:/state -e PERSTACK_STATE_DIR=/state",
                shell_word(&abs(d))
            )
        })
        .unwrap_or_default();
    format!(
        "--runtime docker: this binary does not start containers itself; run its image \
         instead (docs/container.md): the proxy holds the provider key outside the runner, \
         and the runner has no network.\n\
         \n  docker run -d --name perstack-proxy --read-only --cap-drop ALL \
         --security-opt no-new-privileges --user 10001:10001 -v /run/perstack:/run/perstack \
         -v {config}:/config/perstack.toml:ro{key} --entrypoint perstack perstack:latest \
         proxy --config /config/perstack.toml --socket /run/perstack/egress.sock \
         --socket-mode 660 --socket-group 10001\
         \n  docker run --rm --read-only --tmpfs /tmp --cap-drop ALL \
         --security-opt no-new-privileges --user 10001:10001 --network none \
         -v {workspace}:/workspace{state} -v /run/perstack:/run/perstack:ro \
         -e PERSTACK_EGRESS=unix:///run/perstack/egress.sock \
         -v {config}:/config/perstack.toml:ro{passed} perstack:latest \
         --config /config/perstack.toml {} {}\n\
         \nAdd the other run flags (--model, --max-steps, --continue-job, ...) after \
         perstack:latest. The runner is uid 10001: the mounted folders must be writable by it \
         (chown 10001:10001). Build the image with `cargo xtask image`. Or run here with \
         --runtime local (the default: exec and stdio skills confined by Landlock and seccomp).",
        shell_word(&args.expert_key),
        shell_word(&args.query),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use pretty_assertions::assert_eq;

    fn env() -> BTreeMap<String, String> {
        BTreeMap::from([("NPM_TOKEN".to_string(), "t0k".to_string())])
    }

    fn flags(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_take_the_runtime_value_and_pairs_set_one() {
        let passed = passed_env(&flags(&["NPM_TOKEN", "REGION=eu=1", "EMPTY="]), &env()).unwrap();
        assert_eq!(
            passed,
            BTreeMap::from([
                ("EMPTY".to_string(), String::new()),
                ("NPM_TOKEN".to_string(), "t0k".to_string()),
                ("REGION".to_string(), "eu=1".to_string()),
            ])
        );
    }

    #[test]
    fn unset_protected_and_malformed_names_are_refused_with_the_reason() {
        for (flag, says) in [
            ("MISSING", "MISSING is not set"),
            ("LD_PRELOAD=/x.so", "controls how programs load code"),
            ("PATH=/tmp", "controls how programs load code"),
            ("ANTHROPIC_API_KEY=k", "provider credentials"),
            ("PERSTACK_AUDIT_KEY", "audit key"),
            ("=v", "expected NAME or NAME=VALUE"),
            ("1X=v", "expected NAME or NAME=VALUE"),
            ("A-B", "expected NAME or NAME=VALUE"),
        ] {
            let err = passed_env(&flags(&[flag]), &env()).unwrap_err();
            assert!(err.contains(says), "{flag}: {err}");
        }
    }
}
