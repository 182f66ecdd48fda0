//! Finding, reading and validating `perstack.toml`.

use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, Diagnostics, KeyPath, Severity};
use super::model::{ExpertConfig, PerstackConfig};
use super::repair::{self, Repair};
use super::source::SourceMap;
use super::{checked_schema, checks, schema_check};
use crate::CoreError;
use crate::input_file::{InputFile, read_input_file};

/// The config file name Perstack uses.
pub const CONFIG_FILE_NAME: &str = "perstack.toml";

/// A validated config and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The validated model.
    pub config: PerstackConfig,
    /// Warnings found while validating (errors make loading fail).
    pub warnings: Vec<Diagnostic>,
    /// The file's text, for hashing and traceability.
    pub source: String,
}

impl LoadedConfig {
    /// The folder holding the config: relative paths in it (envPath) start here.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or_else(|| Path::new("."))
    }

    /// The Expert with `key`, or an error listing the defined keys.
    pub fn expert(&self, key: &str) -> Result<&ExpertConfig, CoreError> {
        self.config
            .experts
            .get(key)
            .ok_or_else(|| CoreError::UnknownExpert {
                key: key.to_string(),
                config: self.path.display().to_string(),
                available: self
                    .config
                    .experts
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// Looks for `perstack.toml` in `start` and then each parent folder.
pub fn find_config(start: &Path) -> Result<PathBuf, CoreError> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let candidate = d.join(CONFIG_FILE_NAME);
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent();
    }
    Err(CoreError::ConfigNotFound {
        start: start.to_path_buf(),
    })
}

/// Reads and validates the config at `path`: a regular file of at most
/// [`crate::input_file::MAX_CONFIG_BYTES`].
pub fn load_config(path: &Path) -> Result<LoadedConfig, CoreError> {
    let source = read_input_file(path, InputFile::Config)?;
    let label = path.display().to_string();
    let (config, warnings) = parse_config(&label, &source).map_err(CoreError::InvalidConfig)?;
    Ok(LoadedConfig {
        path: path.to_path_buf(),
        config,
        warnings,
        source,
    })
}

/// Validates config text. `file` names the file in diagnostics. On success returns the model
/// and its warnings; on failure every diagnostic found (errors first, in file order).
pub fn parse_config(
    file: &str,
    text: &str,
) -> Result<(PerstackConfig, Vec<Diagnostic>), Diagnostics> {
    let (mut value, map) = SourceMap::parse(file, text).map_err(|d| Diagnostics(vec![d]))?;
    let schema = checked_schema();
    let checked = schema_check::check(&schema, &value, &map);
    let mut diags = checked.diags;
    // Structural problems are repaired away (the value dropped, a stand-in for a missing
    // key) so the semantic checks run too: one pass reports every problem of the file.
    repair::apply(&mut value, &checked.repairs);
    let config: PerstackConfig = match serde_json::from_value(value) {
        Ok(c) => c,
        Err(e) if diags.is_empty() => {
            // The schema check should have caught this; report it rather than panic.
            let d = map.diag_at_value(Severity::Error, &KeyPath::root(), e.to_string());
            return Err(Diagnostics(vec![d]));
        }
        Err(_) => return Err(sorted(diags)),
    };
    let stand_ins: Vec<Vec<String>> = checked
        .repairs
        .iter()
        .filter_map(|r| match r {
            Repair::StandIn(path, _) => Some(path.lookup_key()),
            Repair::Remove(_) => None,
        })
        .collect();
    diags.extend(
        checks::run(&config, &map)
            .into_iter()
            .filter(|d| !stand_ins.iter().any(|s| d.path.lookup_key().starts_with(s))),
    );
    let diags = sorted(diags);
    if diags.has_errors() {
        return Err(diags);
    }
    Ok((config, diags.0))
}

/// The name diagnostics of [`validate`] give the config.
pub const IN_CODE: &str = "<config built in code>";

/// Validates a config built in code (not read from a file) with every check
/// [`parse_config`] runs on text: the config is written as TOML and checked as such, so
/// diagnostics name [`IN_CODE`] and the key path. On success returns the warnings.
///
/// ```
/// use perstack_core::config::{PerstackConfig, validate};
/// let config: PerstackConfig = toml::from_str(r#"
///     model = "claude-sonnet-4-5"
///     [provider]
///     providerName = "anthropic"
///     [experts.writer]
///     instruction = "Write."
/// "#).map_err(|e| e.to_string())?;
/// assert!(validate(&config).is_ok());
/// let mut broken = config.clone();
/// for expert in broken.experts.values_mut() {
///     expert.version = Some("one".into()); // not a semantic version
/// }
/// assert!(validate(&broken).is_err());
/// # Ok::<(), String>(())
/// ```
pub fn validate(config: &PerstackConfig) -> Result<Vec<Diagnostic>, Diagnostics> {
    let text = toml::to_string(config).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            severity: Severity::Error,
            file: IN_CODE.to_string(),
            line: 1,
            column: 1,
            path: KeyPath::root(),
            message: format!("the config cannot be written as TOML: {e}"),
        }])
    })?;
    parse_config(IN_CODE, &text).map(|(_, warnings)| warnings)
}

fn sorted(mut diags: Vec<Diagnostic>) -> Diagnostics {
    diags.sort_by_key(|d| (d.severity != Severity::Error, d.line, d.column));
    diags.dedup();
    Diagnostics(diags)
}

#[cfg(test)]
mod validate_tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_config_built_in_code_is_checked_like_text() {
        let text = "model = \"claude-sonnet-4-5\"\n[experts.writer]\ninstruction = \"Write.\"\ndelegates = [\"writer\"]\n";
        let from_text = parse_config(IN_CODE, text).map(|_| ());
        let config: PerstackConfig = toml::from_str(text).unwrap_or_default();
        let from_code = validate(&config);
        assert!(from_text.is_err());
        let errors = from_code.err().map(|d| d.0.len());
        assert_eq!(errors, from_text.err().map(|d| d.0.len()));
        let mut ok = config.clone();
        ok.experts.values_mut().for_each(|e| e.delegates = None);
        assert_eq!(validate(&ok).ok().map(|w| w.len()), Some(0));
    }

    #[test]
    fn perstack_api_base_url_is_accepted_with_a_warning() {
        let text = "perstackApiBaseUrl = \"https://api.perstack.ai\"\n[experts.writer]\ninstruction = \"Write.\"\n";
        let warnings = parse_config("p.toml", text)
            .map(|(_, w)| w.iter().map(|d| d.to_string()).collect::<Vec<_>>())
            .unwrap_or_default();
        assert_eq!(
            warnings,
            [
                "p.toml:1:22: warning: perstackApiBaseUrl: ignored: this runtime does not call the Perstack API (Experts come from perstack.toml)"
            ]
        );
    }
}
