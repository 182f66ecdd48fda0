//! `perstack start [expertKey] [query]` (as Perstack's `start`): what is left out is asked
//! for on a terminal, taken from the job being continued, or refused naming the argument.

use std::io::{BufRead, IsTerminal, Write};

use perstack_core::config::load_config;

use crate::cli::{RunArgs, StartArgs};

/// The `run` arguments `start` runs with, the missing ones completed.
pub(super) fn complete(args: &StartArgs) -> Result<RunArgs, String> {
    let ask = !args.no_prompt && std::io::stdin().is_terminal();
    let continuing = args.resume.continue_latest || args.resume.continue_job.is_some();
    let why_not = if args.no_prompt {
        "--no-prompt is given"
    } else {
        "stdin is not a terminal"
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stderr();
    let expert_key = match &args.expert_key {
        Some(k) => k.clone(),
        None if continuing => continued_expert(args)?,
        None if ask => {
            let (config, experts) = experts(args)?;
            choose_expert(&config, &experts, &mut input, &mut out)?
        }
        None => {
            let known = experts(args)
                .map(|(_, e)| {
                    let keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
                    format!(" (Experts in perstack.toml: {})", keys.join(", "))
                })
                .unwrap_or_default();
            return Err(format!(
                "missing EXPERT_KEY: {why_not}, so start cannot ask for it; pass it: \
                 perstack start EXPERT \"QUERY\"{known}"
            ));
        }
    };
    // With `-i` the query is the answer, which continuing without one would not give.
    let answering = matches!(args.resume.interactive_tool_call_result, Some(None));
    let label = if answering { "answer" } else { "query" };
    let query = match &args.query {
        Some(q) => q.clone(),
        None if continuing && !answering => String::new(),
        None if ask => ask_line(label, &mut input, &mut out)?,
        None => {
            return Err(format!(
                "missing QUERY: {why_not}, so start cannot ask for it; pass it: perstack start \
                 {} \"{}\"",
                crate::render::shell_word(&expert_key),
                label.to_uppercase()
            ));
        }
    };
    Ok(RunArgs {
        expert_key,
        query,
        options: args.options.clone(),
        resume: args.resume.clone(),
        output: args.output,
    })
}

/// An Expert's key and description.
type Listed = (String, Option<String>);

/// The config's path as given and its Experts.
fn experts(args: &StartArgs) -> Result<(String, Vec<Listed>), String> {
    let path =
        crate::config_path::resolve(args.options.config.as_deref()).map_err(|e| e.to_string())?;
    let loaded = load_config(&path).map_err(|e| e.to_string())?;
    let experts = loaded
        .config
        .experts
        .iter()
        .map(|(k, e)| (k.clone(), e.description.clone()))
        .collect();
    Ok((path.display().to_string(), experts))
}

/// The Expert of the job `--continue`/`--continue-job` names.
fn continued_expert(args: &StartArgs) -> Result<String, String> {
    let workspace = super::prepare::workspace(args.options.workspace.as_deref())?;
    let storage = crate::state_dir::open(&args.options.storage, &workspace)?;
    let job = match &args.resume.continue_job {
        Some(id) => storage.load_job(id).map_err(|e| e.to_string())?,
        None => storage.latest_job().map_err(|e| e.to_string())?.ok_or(
            "--continue: there is no job in this workspace yet; start one without --continue",
        )?,
    };
    Ok(job.coordinator_expert_key)
}

/// Lists the Experts on `out` and reads a number or a key from `input` (the only one is
/// taken without asking); asks again on anything else, gives up at end of input.
fn choose_expert<R: BufRead, W: Write>(
    config: &str,
    experts: &[Listed],
    input: &mut R,
    out: &mut W,
) -> Result<String, String> {
    match experts {
        [] => {
            return Err(format!(
                "{config} defines no Experts; add one under [experts.\"<key>\"]"
            ));
        }
        [(only, _)] => {
            let _ = writeln!(out, "expert: {only} (the only one in {config})");
            return Ok(only.clone());
        }
        _ => {}
    }
    let _ = writeln!(out, "Experts in {config}:");
    for (i, (key, description)) in experts.iter().enumerate() {
        let about = description
            .as_deref()
            .and_then(|d| d.lines().next())
            .map(|d| format!("  {}", super::log::clip(d, 70)))
            .unwrap_or_default();
        let _ = writeln!(out, "  {}. {key}{about}", i + 1);
    }
    loop {
        let line = ask_line("expert (number or key)", input, out)?;
        let chosen = line
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| experts.get(i))
            .or_else(|| experts.iter().find(|(k, _)| *k == line));
        match chosen {
            Some((key, _)) => return Ok(key.clone()),
            None => {
                let _ = writeln!(
                    out,
                    "no Expert {line:?}: type a number from 1 to {} or a key",
                    experts.len()
                );
            }
        }
    }
}

/// Asks `label > ` on `out` and reads a non-empty line from `input`.
fn ask_line<R: BufRead, W: Write>(
    label: &str,
    input: &mut R,
    out: &mut W,
) -> Result<String, String> {
    loop {
        let _ = write!(out, "{label} > ");
        let _ = out.flush();
        let mut line = String::new();
        let read = input
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the {label}: {e}"))?;
        if read == 0 {
            return Err(format!("no {label} given (end of input)"));
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if !line.trim().is_empty() {
            return Ok(line.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use pretty_assertions::assert_eq;

    fn experts() -> Vec<Listed> {
        vec![
            ("asker".into(), Some("Asks things.\nMore.".into())),
            ("worker".into(), None),
        ]
    }

    fn choose(typed: &str) -> (Result<String, String>, String) {
        let mut out = Vec::new();
        let r = choose_expert("perstack.toml", &experts(), &mut typed.as_bytes(), &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    #[test]
    fn an_expert_is_chosen_by_number_or_key_and_asked_again_otherwise() {
        let (r, shown) = choose("2\n");
        assert_eq!(r.unwrap(), "worker");
        assert_eq!(
            shown,
            "Experts in perstack.toml:\n  1. asker  Asks things.\n  2. worker\nexpert (number or key) > "
        );
        let (r, shown) = choose("7\nnobody\n\nasker\n");
        assert_eq!(r.unwrap(), "asker");
        assert!(shown.contains("no Expert \"7\": type a number from 1 to 2 or a key"));
        assert!(shown.contains("no Expert \"nobody\""));
        let (r, _) = choose("9\n");
        assert_eq!(
            r.unwrap_err(),
            "no expert (number or key) given (end of input)"
        );
    }

    #[test]
    fn the_only_expert_is_taken_and_none_is_an_error() {
        let mut out = Vec::new();
        let only = vec![("solo".to_string(), None)];
        let r = choose_expert("p.toml", &only, &mut "".as_bytes(), &mut out);
        assert_eq!(r.unwrap(), "solo");
        let r = choose_expert("p.toml", &[], &mut "".as_bytes(), &mut out);
        assert!(r.unwrap_err().contains("defines no Experts"));
    }

    #[test]
    fn a_line_is_read_without_its_newline_and_blank_lines_are_asked_again() {
        let mut out = Vec::new();
        let r = ask_line("query", &mut "\n  \nSay hi\r\n".as_bytes(), &mut out);
        assert_eq!(r.unwrap(), "Say hi");
        assert_eq!(String::from_utf8(out).unwrap(), "query > query > query > ");
    }
}
