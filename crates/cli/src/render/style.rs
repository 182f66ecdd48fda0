//! ANSI styling, on only for a terminal without NO_COLOR.

use std::io::IsTerminal;

/// Whether and how to colour the transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Plain text: no escape codes at all.
    #[cfg(test)]
    pub const PLAIN: Style = Style { color: false };

    /// Colour when stdout is a terminal and `NO_COLOR` is unset (or empty).
    pub fn for_stdout() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }

    /// A style that always colours (tests of the coloured form).
    #[cfg(test)]
    pub const COLOR: Style = Style { color: true };

    fn paint(self, code: &str, s: &str) -> String {
        if self.color && !s.is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// Headers.
    pub fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }

    /// Secondary detail (reasoning, ids, results).
    pub fn dim(self, s: &str) -> String {
        self.paint("2", s)
    }

    /// Errors.
    pub fn red(self, s: &str) -> String {
        self.paint("31", s)
    }

    /// Success.
    pub fn green(self, s: &str) -> String {
        self.paint("32", s)
    }

    /// Waiting for someone, limits.
    pub fn yellow(self, s: &str) -> String {
        self.paint("33", s)
    }

    /// Tool calls.
    pub fn cyan(self, s: &str) -> String {
        self.paint("36", s)
    }
}
