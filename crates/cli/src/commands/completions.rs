//! `perstack completions`.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, ShellArg};
use crate::exit;

pub fn run(shell: ShellArg) -> u8 {
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut cmd = Cli::command();
    // Generated into memory first: clap_complete panics when its writer fails (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "perstack", &mut script);
    let mut out = std::io::stdout().lock();
    if crate::stdout_pipe::check(out.write_all(&script).and_then(|()| out.flush())).is_err() {
        return exit::ERROR;
    }
    exit::OK
}
