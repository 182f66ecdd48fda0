//! docs/cli.md's flag table lists exactly the long flags `perstack <command> --help` shows,
//! for every subcommand.

use std::collections::BTreeSet;
use std::process::Command;

use pretty_assertions::assert_eq;

/// Long flags in `--help` output (`--help` itself left out), in order of first appearance.
fn help_flags(command: &str) -> Result<BTreeSet<String>, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args(command.split_whitespace())
        .arg("--help")
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            // "-i, --interactive-tool-call-result <..>" or "--config <PATH>".
            let line = match line.strip_prefix('-') {
                Some(rest) if !rest.starts_with('-') => rest.split_once(", ")?.1,
                _ => line,
            };
            let flag = line.strip_prefix("--")?;
            let name: String = flag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty() && name != "help").then(|| format!("--{name}"))
        })
        .collect())
}

/// The rows of the table under "## Flags": command -> flags.
fn doc_tables() -> Vec<(String, BTreeSet<String>)> {
    let doc = include_str!("../../../docs/cli.md");
    let section = doc.split("\n## Flags\n").nth(1).unwrap_or_default();
    section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let command = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let flags = cells
                .get(2)?
                .split_whitespace()
                .map(|f| f.trim_matches('`').to_string())
                .collect();
            Some((command.to_string(), flags))
        })
        .collect()
}

#[test]
fn docs_flag_tables_match_help() -> Result<(), String> {
    let tables = doc_tables();
    let commands: Vec<&str> = tables.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        commands,
        [
            "run",
            "start",
            "replay",
            "log",
            "jobs",
            "install",
            "validate",
            "proxy",
            "skill base"
        ]
    );
    for command in ["schema", "completions"] {
        assert_eq!(
            help_flags(command)?,
            BTreeSet::new(),
            "{command} takes no flags"
        );
    }
    for (command, documented) in &tables {
        let helped = help_flags(command)?;
        assert_eq!(
            (command, documented),
            (command, &helped),
            "docs/cli.md's row for `{command}` against `perstack {command} --help`"
        );
    }
    Ok(())
}
