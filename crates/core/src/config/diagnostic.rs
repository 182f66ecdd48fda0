//! Diagnostics: one problem in a config file, located by line, column and key path.

use std::fmt;

/// A segment of a key path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A fixed field of a table (`maxSteps`), shown bare.
    Field(String),
    /// A user-chosen map key (an expert key, a skill name), shown quoted.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A key path such as `experts."writer".skills."fs"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    /// The root of the document.
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path plus a fixed field.
    #[must_use]
    pub fn field(&self, name: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Field(name.to_string()));
        KeyPath(v)
    }

    /// This path plus a user-chosen key.
    #[must_use]
    pub fn key(&self, name: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(name.to_string()));
        KeyPath(v)
    }

    /// This path plus an array index.
    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }

    /// The path as plain names, for span lookup (field/key distinction dropped).
    pub(crate) fn lookup_key(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|s| match s {
                Seg::Field(n) | Seg::Key(n) => n.clone(),
                Seg::Index(i) => format!("[{i}]"),
            })
            .collect()
    }

    /// The parent path (root stays root).
    #[must_use]
    pub fn parent(&self) -> Self {
        let mut v = self.0.clone();
        v.pop();
        KeyPath(v)
    }

    /// True for the document root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Field(n) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(n)?;
                }
                Seg::Key(n) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    write!(f, "\"{}\"", n.escape_default())?;
                }
                Seg::Index(idx) => write!(f, "[{idx}]")?,
            }
        }
        Ok(())
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The config cannot be used.
    Error,
    /// The config works but probably not as intended.
    Warning,
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Key path of the table or value concerned.
    pub path: KeyPath,
    /// What is wrong and, where possible, what to write instead.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if !self.path.is_root() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// All diagnostics of one file, errors first in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// True when any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Suggests the closest candidate to a misspelt `word`, if one is close enough.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let w = norm(word);
    if let Some(exact) = candidates.iter().find(|c| norm(c) == w) {
        return Some(exact);
    }
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(f64, &'a str)> = None;
    for c in candidates {
        let nc = norm(c);
        let close = strsim::damerau_levenshtein(&w, &nc) <= limit
            || (w.len() >= 4 && (nc.starts_with(&w) || w.starts_with(&nc)));
        let score = strsim::jaro_winkler(&w, &nc);
        if (close || score >= 0.88) && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_display_quotes_user_keys() {
        let p = KeyPath::root()
            .field("experts")
            .key("writer")
            .field("skills")
            .key("fs")
            .field("pick")
            .index(2);
        assert_eq!(p.to_string(), r#"experts."writer".skills."fs".pick[2]"#);
    }

    #[test]
    fn suggestions() {
        let keys = ["command", "args", "packageName", "requiredEnv"];
        assert_eq!(did_you_mean("comand", &keys), Some("command"));
        assert_eq!(did_you_mean("package_name", &keys), Some("packageName"));
        assert_eq!(did_you_mean("required-env", &keys), Some("requiredEnv"));
        assert_eq!(did_you_mean("zzzzzz", &keys), None);
        assert_eq!(did_you_mean("argv", &keys), Some("args"));
        let types = ["mcpStdioSkill", "mcpSseSkill", "interactiveSkill"];
        assert_eq!(did_you_mean("mcpStdio", &types), Some("mcpStdioSkill"));
        assert_eq!(
            did_you_mean("readFile", &["readTextFile", "moveFile"]),
            Some("readTextFile")
        );
    }
}
