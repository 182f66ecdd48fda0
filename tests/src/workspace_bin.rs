//! Binaries of other workspace packages that tests drive: cargo builds only the tested
//! package's own binaries, so these are found next to the test and built when missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `perstack-skills`' MCP test server (tools `echo`, `ask` with elicitation, ...).
pub fn mcp_test_server() -> PathBuf {
    workspace_bin("perstack-skills", "perstack-mcp-test-server")
}

/// The binary `bin` of `package`, in the profile directory of the running test.
///
/// # Panics
/// When it is missing and cannot be built.
#[allow(clippy::expect_used)] // test support: a missing binary ends the test with the reason
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile.join(bin);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", package, "--bin", bin]);
        if profile.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building {bin} of {package} failed");
    }
    path
}
