//! The flags a printed command needs to reach what the rendered run used: its config,
//! workspace and state folder, as the user gave them, so a hint can be copied and run as it is.

use std::path::Path;

use super::stop::shell_word;

/// The `--config`, `--workspace` and `--state-dir` of the command that started (or replays) a
/// run; each `None` when the default was used, so hints stay short for the common case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    config: Option<String>,
    workspace: Option<String>,
    state_dir: Option<String>,
}

impl Invocation {
    /// The flags as given on the command line (paths kept as typed, relative ones included).
    pub fn new(config: Option<&Path>, workspace: Option<&Path>) -> Self {
        let word = |p: &Path| shell_word(&p.to_string_lossy());
        Invocation {
            config: config.map(word),
            workspace: workspace.map(word),
            state_dir: None,
        }
    }

    /// The same, with the state folder storage lives in (`--state-dir`).
    pub fn with_state_dir(mut self, state_dir: Option<&Path>) -> Self {
        self.state_dir = state_dir.map(|p| shell_word(&p.to_string_lossy()));
        self
    }

    /// The `--config`/`--workspace`/`--state-dir` of a command's run flags.
    pub fn of(options: &crate::cli::RunOptions) -> Self {
        Invocation::new(options.config.as_deref(), options.workspace.as_deref())
            .with_state_dir(options.storage.state_dir.as_deref())
    }

    /// ` --config C --workspace W` for `perstack run` (empty for defaults).
    pub(super) fn run_flags(&self) -> String {
        let mut s = String::new();
        if let Some(c) = &self.config {
            s.push_str(&format!(" --config {c}"));
        }
        s.push_str(&self.log_flags());
        s
    }

    /// ` --workspace W --state-dir S` for `perstack log` (it reads only the storage).
    pub(super) fn log_flags(&self) -> String {
        let mut s = String::new();
        if let Some(w) = &self.workspace {
            s.push_str(&format!(" --workspace {w}"));
        }
        if let Some(d) = &self.state_dir {
            s.push_str(&format!(" --state-dir {d}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn defaults_add_nothing_and_paths_are_quoted_for_the_shell() {
        assert_eq!(Invocation::default().run_flags(), "");
        let inv = Invocation::new(
            Some(Path::new("conf/my perstack.toml")),
            Some(Path::new("/srv/it's here")),
        );
        assert_eq!(
            inv.run_flags(),
            r" --config 'conf/my perstack.toml' --workspace '/srv/it'\''s here'"
        );
        assert_eq!(inv.log_flags(), r" --workspace '/srv/it'\''s here'");
        let only_ws = Invocation::new(None, Some(Path::new("ws")));
        assert_eq!(only_ws.run_flags(), " --workspace ws");
        let state = Invocation::new(None, Some(Path::new("ws")))
            .with_state_dir(Some(Path::new("/var/lib/perstack")));
        assert_eq!(
            state.run_flags(),
            " --workspace ws --state-dir /var/lib/perstack"
        );
        assert_eq!(
            state.log_flags(),
            " --workspace ws --state-dir /var/lib/perstack"
        );
    }
}
