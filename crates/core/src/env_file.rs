//! Env files (`.env`, `.env.local`, `--env-path`): parsed into a map, never written into the
//! process environment, so a library caller's environment stays untouched.
//!
//! Precedence is Perstack's (its CLI hands the files to dotenv, which never overrides): a
//! variable set to a non-empty value in the process environment wins, then the first env
//! file that sets it, in the order the files are listed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::CoreError;
use crate::config::{DEFAULT_ENV_PATHS, PerstackConfig};
use crate::input_file::{InputFile, read_input_file};

/// Variables loaded from env files; the first file to set a variable wins (within one
/// file, its last line does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFiles {
    vars: IndexMap<String, String>,
    loaded: Vec<PathBuf>,
}

impl EnvFiles {
    /// Loads `paths` (relative ones against `base`) in order; missing files are skipped, since
    /// the defaults (`.env`, `.env.local`) are optional. Each must be a regular file of at
    /// most [`crate::input_file::MAX_ENV_FILE_BYTES`].
    pub fn load(base: &Path, paths: &[String]) -> Result<Self, CoreError> {
        let mut env = EnvFiles::default();
        for p in paths {
            let path = base.join(p);
            let text = match read_input_file(&path, InputFile::EnvFile) {
                Ok(t) => t,
                Err(CoreError::Read { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut file: IndexMap<String, String> = IndexMap::new();
            file.extend(parse_env(&path, &text)?);
            for (k, v) in file {
                env.vars.entry(k).or_insert(v);
            }
            env.loaded.push(path);
        }
        Ok(env)
    }

    /// A variable from the files.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// All variables, in file order.
    pub fn vars(&self) -> &IndexMap<String, String> {
        &self.vars
    }

    /// The files that existed and were read.
    pub fn loaded(&self) -> &[PathBuf] {
        &self.loaded
    }

    /// A variable from the process environment (when set and not empty), else from the
    /// files.
    pub fn lookup(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| self.get(name).map(str::to_string))
    }
}

/// The environment a run sees: the process environment plus the env files, resolved as
/// Perstack resolves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunEnv {
    vars: BTreeMap<String, String>,
    files: Vec<PathBuf>,
    loaded: Vec<PathBuf>,
}

impl RunEnv {
    /// Resolves the run's environment. The env files are `flags` (`--env-path`) when given,
    /// else the config's top-level `envPath`, else `.env` and `.env.local`; relative paths
    /// start at `cwd`, missing files are skipped. `process` is the process environment
    /// (see [`process_env`]): a variable set there to a non-empty value wins; otherwise the
    /// first file that sets it does.
    pub fn resolve(
        cwd: &Path,
        flags: &[PathBuf],
        config: &PerstackConfig,
        process: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, CoreError> {
        let names: Vec<String> = if flags.is_empty() {
            config.env_paths()
        } else {
            flags.iter().map(|p| p.display().to_string()).collect()
        };
        let files_read = EnvFiles::load(cwd, &names)?;
        // Perstack drops empty values of the process environment before loading the files.
        let mut vars: BTreeMap<String, String> =
            process.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        for (k, v) in files_read.vars() {
            vars.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(RunEnv {
            vars,
            files: names.iter().map(|n| cwd.join(n)).collect(),
            loaded: files_read.loaded,
        })
    }

    /// Every variable, by name.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// Every variable, by name (owned).
    pub fn into_vars(self) -> BTreeMap<String, String> {
        self.vars
    }

    /// The env files the run reads (existing or not), as paths from the current folder.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The env files that existed and were read.
    pub fn loaded(&self) -> &[PathBuf] {
        &self.loaded
    }

    /// The files tools must neither read nor change: those the run reads, plus `.env` and
    /// `.env.local` next to the config (where this runtime looked before and where keys are
    /// often kept) and any `envPath` written under `[provider]` (ignored, but likely secret).
    pub fn files_to_protect(
        &self,
        cwd: &Path,
        config_dir: &Path,
        config: &PerstackConfig,
    ) -> Vec<PathBuf> {
        let mut out = self.files.clone();
        let extra = DEFAULT_ENV_PATHS.iter().map(|n| config_dir.join(n)).chain(
            config
                .provider
                .iter()
                .flat_map(|p| p.env_path.iter().flatten())
                .map(|n| cwd.join(n)),
        );
        for p in extra {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

/// The process environment as text: variables whose name or value is not UTF-8 cannot be
/// passed on as text and are left out (reading them would panic).
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

/// Parses env-file text: `KEY=VALUE`, optional `export `, `#` comments, single quotes
/// (literal), double quotes (escapes `\n \t \" \\`, may span lines), unquoted values trimmed
/// with trailing ` #comment` removed.
pub fn parse_env(path: &Path, text: &str) -> Result<Vec<(String, String)>, CoreError> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let line = lines.get(i).copied().unwrap_or_default().trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let err = |message: String| CoreError::InvalidEnvFile {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        let Some((key, rest)) = line.split_once('=') else {
            return Err(err(format!("expected KEY=VALUE, found \"{line}\"")));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
            || key.starts_with(|c: char| c.is_ascii_digit())
        {
            return Err(err(format!(
                "\"{key}\" is not a variable name (letters, digits and '_', not starting with a digit)"
            )));
        }
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            match body.find('\'') {
                Some(end) => body.get(..end).unwrap_or_default().to_string(),
                None => return Err(err("unterminated single quote".to_string())),
            }
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut acc = body.to_string();
            loop {
                if let Some(v) = closing_double_quote(&acc) {
                    break unescape(v);
                }
                match lines.get(i) {
                    Some(next) => {
                        acc.push('\n');
                        acc.push_str(next);
                        i += 1;
                    }
                    None => return Err(err("unterminated double quote".to_string())),
                }
            }
        } else {
            let v = match rest.find(" #") {
                Some(pos) => rest.get(..pos).unwrap_or_default(),
                None => rest,
            };
            v.trim().to_string()
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// The text before the first unescaped `"`, if there is one.
fn closing_double_quote(s: &str) -> Option<&str> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return s.get(..i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn parses_common_forms() {
        let text = "# comment\nA=1\nexport B = two words # note\nC='lit $X \\n'\nD=\"a\\nb\"\nE=\"multi\nline\"\n\nF=\n";
        let got = parse_env(Path::new(".env"), text).unwrap();
        let want: Vec<(String, String)> = [
            ("A", "1"),
            ("B", "two words"),
            ("C", "lit $X \\n"),
            ("D", "a\nb"),
            ("E", "multi\nline"),
            ("F", ""),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_env(Path::new(".env"), "A=1\nnot a pair\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            ".env:2: expected KEY=VALUE, found \"not a pair\""
        );
        let e = parse_env(Path::new(".env"), "A=\"open\n").unwrap_err();
        assert_eq!(e.to_string(), ".env:1: unterminated double quote");
    }

    #[test]
    fn the_first_file_wins_and_missing_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "A=1\nB=1\nB=3\n").unwrap();
        std::fs::write(dir.path().join(".env.local"), "B=2\nC=2\n").unwrap();
        let env = EnvFiles::load(
            dir.path(),
            &[".env".into(), ".env.local".into(), "missing.env".into()],
        )
        .unwrap();
        // dotenv's rule, as Perstack loads `.env` then `.env.local`: nothing overrides.
        assert_eq!(env.get("A"), Some("1"));
        assert_eq!(env.get("B"), Some("3"));
        assert_eq!(env.get("C"), Some("2"));
        assert_eq!(env.loaded().len(), 2);
    }
}
