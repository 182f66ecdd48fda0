//! Records the git revision the binary is built from, for `initializeRuntime.gitRevision`.

use std::process::Command;

fn main() {
    // Rebuild when HEAD moves (a missing .git makes these no-ops).
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs/heads");
    println!("cargo:rerun-if-env-changed=PERSTACK_GIT_REVISION");
    if std::env::var_os("PERSTACK_GIT_REVISION").is_some() {
        return; // set by the builder (e.g. an image build without .git)
    }
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    if let Some(rev) = rev {
        println!("cargo:rustc-env=PERSTACK_GIT_REVISION={rev}");
    }
}
