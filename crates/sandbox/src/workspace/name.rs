//! Lexical handling of the paths tools receive: splitting into components, refusing
//! hard-to-see characters, and recognising the reserved `perstack` name in any spelling.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use unicode_normalization::UnicodeNormalization;

use crate::error::{Result, SandboxError};

/// The folder inside the workspace that belongs to the runtime.
pub const RESERVED_DIR: &str = "perstack";

/// One component of a path, after `.` and empty components are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Comp {
    /// `..`
    Parent,
    /// A name (never empty, `.`, `..`, and without `/` or NUL).
    Name(Vec<u8>),
}

/// Whether `name`, at the top level of the workspace, designates the reserved folder.
///
/// Compares after Unicode compatibility normalisation (NFKC), full lowercasing and removal of
/// invisible characters, so that `PERSTACK`, `Perstack`, fullwidth letters, the Kelvin sign,
/// the long s, zero-width joiners and soft hyphens all count: a case-folding file system
/// could map any of them to the real folder.
pub fn is_reserved_name(name: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(name) else {
        // Non-UTF-8 bytes cannot case-fold to ASCII "perstack" on any file system we know,
        // but compare the ASCII case-insensitive form anyway.
        return name.eq_ignore_ascii_case(RESERVED_DIR.as_bytes());
    };
    let folded: String = text
        .nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| !is_invisible(*c))
        .map(|c| match c {
            // Characters whose lowercase or casefold is ASCII on some file systems.
            'ſ' => 's',
            'ı' => 'i',
            other => other,
        })
        .collect();
    folded == RESERVED_DIR
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Characters refused anywhere in a path: they make names look like other names.
fn is_refused_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Splits a relative path into components, refusing NUL and hard-to-see characters.
pub(crate) fn split_relative(original: &str, rel: &[u8]) -> Result<Vec<Comp>> {
    let mut out = Vec::new();
    for part in rel.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => out.push(Comp::Parent),
            name => out.push(Comp::Name(name.to_vec())),
        }
    }
    if rel.contains(&0) {
        return Err(invalid(original, "contains a NUL byte"));
    }
    if let Ok(text) = std::str::from_utf8(rel)
        && text.chars().any(is_refused_char)
    {
        return Err(invalid(
            original,
            "contains control or bidirectional-override characters",
        ));
    }
    Ok(out)
}

/// Turns what a tool received into components relative to the root. Absolute paths are
/// accepted only when they start with one of `roots` (the workspace as given and as
/// canonicalised).
pub(crate) fn parse_user_path(input: &str, roots: &[&Path]) -> Result<Vec<Comp>> {
    if input.starts_with('~') {
        // Home expansion would point outside the workspace in every sane setup.
        return Err(SandboxError::OutsideWorkspace {
            path: input.to_string(),
        });
    }
    let bytes = input.as_bytes();
    if bytes.first() == Some(&b'/') {
        return strip_root(input, bytes, roots);
    }
    split_relative(input, bytes)
}

/// Components of an absolute path (`bytes`) below one of `roots`, or an outside error.
pub(crate) fn strip_root(original: &str, bytes: &[u8], roots: &[&Path]) -> Result<Vec<Comp>> {
    let path = Path::new(OsStr::from_bytes(bytes));
    for root in roots {
        if let Ok(rest) = path.strip_prefix(root) {
            return split_relative(original, rest.as_os_str().as_bytes());
        }
    }
    Err(SandboxError::OutsideWorkspace {
        path: original.to_string(),
    })
}

fn invalid(path: &str, reason: &'static str) -> SandboxError {
    SandboxError::InvalidPath {
        path: path.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn reserved_name_spellings() {
        for name in [
            "perstack",
            "PERSTACK",
            "PerStack",
            "perſtack",
            "per\u{200B}stack",
            "per\u{00AD}stack",
            "\u{FF50}\u{FF45}\u{FF52}\u{FF53}\u{FF54}\u{FF41}\u{FF43}\u{FF4B}",
            "perstac\u{212A}",
            "perstack\u{FEFF}",
        ] {
            assert!(is_reserved_name(name.as_bytes()), "{name:?}");
        }
        for name in ["perstack2", "perstac", "my-perstack", "perstack.txt"] {
            assert!(!is_reserved_name(name.as_bytes()), "{name:?}");
        }
    }

    #[test]
    fn splits_and_drops_dots() {
        assert_eq!(
            split_relative("a/./b/../c//", b"a/./b/../c//").unwrap(),
            vec![
                Comp::Name(b"a".to_vec()),
                Comp::Name(b"b".to_vec()),
                Comp::Parent,
                Comp::Name(b"c".to_vec())
            ]
        );
    }

    #[test]
    fn absolute_paths_must_start_with_the_root() {
        let root = Path::new("/ws/root");
        assert_eq!(
            parse_user_path("/ws/root/a", &[root]).unwrap(),
            vec![Comp::Name(b"a".to_vec())]
        );
        assert!(parse_user_path("/ws/rootx/a", &[root]).is_err());
        assert!(parse_user_path("/etc/passwd", &[root]).is_err());
        assert!(parse_user_path("~/x", &[root]).is_err());
    }
}
