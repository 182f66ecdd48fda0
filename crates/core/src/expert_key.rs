//! Expert keys: `name`, `name@1.2.3`, `name@tag`, `@scope/name@...`.

use std::fmt;

use crate::CoreError;

/// A parsed expert key (Perstack's `parseExpertKey`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExpertKey {
    /// The full key as written.
    pub key: String,
    /// The name part, scope included (`@scope/name`).
    pub name: String,
    /// A semantic version after `@`, if the key has one.
    pub version: Option<String>,
    /// A tag after `@` that is not a version, if the key has one.
    pub tag: Option<String>,
}

impl ExpertKey {
    /// Parses a key, reporting what shape was expected when it does not fit.
    pub fn parse(key: &str) -> Result<Self, CoreError> {
        let invalid = |why: &str| CoreError::InvalidExpertKey {
            key: key.to_string(),
            reason: why.to_string(),
        };
        if key.is_empty() {
            return Err(invalid("it is empty"));
        }
        if key.len() > 511 {
            return Err(invalid("it is longer than 511 characters"));
        }
        let (scope, rest) = match key.strip_prefix('@') {
            Some(after) => {
                let (scope, rest) = after
                    .split_once('/')
                    .ok_or_else(|| invalid("a scoped key needs the form @scope/name"))?;
                if !is_word(scope, true) {
                    return Err(invalid(
                        "the scope must be lowercase letters, digits, '_', '.', '-'",
                    ));
                }
                (Some(scope), rest)
            }
            None => (None, key),
        };
        let (name, suffix) = match rest.split_once('@') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        if !is_word(name, true) {
            return Err(invalid(
                "the name must start with a lowercase letter or digit and use only lowercase letters, digits, '_', '.', '-'",
            ));
        }
        let (version, tag) = match suffix {
            None => (None, None),
            Some(s) if is_semver(s) => (Some(s.to_string()), None),
            Some(s) if is_word(s, true) => (None, Some(s.to_string())),
            Some(_) => {
                return Err(invalid(
                    "the part after '@' must be a semantic version or a tag",
                ));
            }
        };
        let name = match scope {
            Some(scope) => format!("@{scope}/{name}"),
            None => name.to_string(),
        };
        Ok(ExpertKey {
            key: key.to_string(),
            name,
            version,
            tag,
        })
    }

    /// The last path segment of the name: the tool name a delegate is exposed under.
    pub fn short_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

impl fmt::Display for ExpertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

fn is_word(s: &str, allow_dot: bool) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => {}
        _ => return false,
    }
    chars.all(|c| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '_'
            || c == '-'
            || (allow_dot && c == '.')
    })
}

/// Semantic version `MAJOR.MINOR.PATCH[-pre][+build]` without leading zeros.
pub fn is_semver(s: &str) -> bool {
    let (core, _build) = match s.split_once('+') {
        Some((c, b)) => {
            if b.is_empty() || !b.chars().all(is_ident_char) {
                return false;
            }
            (c, Some(b))
        }
        None => (s, None),
    };
    let core = match core.split_once('-') {
        Some((c, pre)) => {
            if pre.is_empty() || !pre.chars().all(is_ident_char) {
                return false;
            }
            c
        }
        None => core,
    };
    let nums: Vec<&str> = core.split('.').collect();
    nums.len() == 3
        && nums.iter().all(|n| {
            !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
                && (n.len() == 1 || !n.starts_with('0'))
        })
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn parses_all_forms() {
        let k = ExpertKey::parse("@acme/writer@1.2.3-rc.1").unwrap();
        assert_eq!(k.name, "@acme/writer");
        assert_eq!(k.version.as_deref(), Some("1.2.3-rc.1"));
        assert_eq!(k.tag, None);
        assert_eq!(k.short_name(), "writer");
        let k = ExpertKey::parse("writer@latest").unwrap();
        assert_eq!(
            (k.name.as_str(), k.tag.as_deref()),
            ("writer", Some("latest"))
        );
        let k = ExpertKey::parse("my-expert").unwrap();
        assert_eq!((k.version, k.tag), (None, None));
    }

    #[test]
    fn rejects_bad_keys() {
        for bad in ["", "Writer", "@acme", "@/x", "a@", "a@01.2.3!", "a b", "-x"] {
            assert!(ExpertKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn semver_rules() {
        assert!(is_semver("0.0.1"));
        assert!(is_semver("1.2.3+build.5"));
        assert!(!is_semver("01.2.3"));
        assert!(!is_semver("1.2"));
        assert!(!is_semver("1.2.3-"));
    }
}
