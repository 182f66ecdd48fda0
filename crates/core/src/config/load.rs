//! Finding, reading and validating `perstack.toml`.

use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, Diagnostics, KeyPath, Severity};
use super::model::{ExpertConfig, PerstackConfig};
use super::source::SourceMap;
use super::{checks, config_json_schema, schema_check};
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
    let (value, map) = SourceMap::parse(file, text).map_err(|d| Diagnostics(vec![d]))?;
    let schema = config_json_schema();
    let mut diags = schema_check::check(&schema, &value, &map);
    if !diags.is_empty() {
        return Err(sorted(diags));
    }
    let config: PerstackConfig = match serde_json::from_value(value) {
        Ok(c) => c,
        Err(e) => {
            // The schema check should have caught this; report it rather than panic.
            let d = map.diag_at_value(Severity::Error, &KeyPath::root(), e.to_string());
            return Err(Diagnostics(vec![d]));
        }
    };
    diags.extend(checks::run(&config, &map));
    let diags = sorted(diags);
    if diags.has_errors() {
        return Err(diags);
    }
    Ok((config, diags.0))
}

fn sorted(mut diags: Vec<Diagnostic>) -> Diagnostics {
    diags.sort_by_key(|d| (d.severity != Severity::Error, d.line, d.column));
    diags.dedup();
    Diagnostics(diags)
}
