//! Records the git revision the binary is built from, for `initializeRuntime.gitRevision`,
//! and lays out the release binary's code (docs/performance.md, "Code layout").

use std::path::Path;
use std::process::Command;

fn main() {
    git_revision();
    code_layout();
}

fn git_revision() {
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

/// The functions a run executes (`hot-functions.txt`, written by `cargo xtask code-layout`)
/// are placed next to each other: the kernel maps code in 64 KiB windows around each page
/// a run touches, so hot code spread over the whole `.text` makes most of it resident.
/// Release builds for x86-64 Linux only, where rustc links with LLD (the only linker here
/// that takes a symbol ordering file); `PERSTACK_CODE_LAYOUT=off` turns it off.
fn code_layout() {
    println!("cargo:rerun-if-changed=hot-functions.txt");
    println!("cargo:rerun-if-env-changed=PERSTACK_CODE_LAYOUT");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("PROFILE") != "release" || var("TARGET") != "x86_64-unknown-linux-gnu" {
        return;
    }
    if var("PERSTACK_CODE_LAYOUT") == "off" {
        return;
    }
    // LLD is rustc's default linker here from 1.90 on; a build on an older toolchain or one
    // that chose another linker would fail on LLD's options, so it gets the default layout.
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    if flags.contains("linker-features=-lld")
        || flags.contains("fuse-ld=")
        || flags.contains("linker=")
        || !var("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_empty()
        || !rustc_links_with_lld()
    {
        return;
    }
    // The link map goes next to the binary (OUT_DIR is <profile dir>/build/<crate>/out):
    // `cargo xtask code-layout` maps executed addresses to functions with it.
    let out_dir = std::path::PathBuf::from(var("OUT_DIR"));
    if let Some(profile_dir) = out_dir.ancestors().nth(3) {
        println!(
            "cargo:rustc-link-arg-bin=perstack=-Wl,-Map={}",
            profile_dir.join("perstack.map").display()
        );
        // Symbols as the ordering file names them (mangled), not demangled.
        println!("cargo:rustc-link-arg-bin=perstack=-Wl,--no-demangle");
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("hot-functions.txt");
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=perstack=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Functions renamed or removed since the list was written are skipped quietly;
        // `cargo xtask code-layout` reports how much of the list still matches.
        println!("cargo:rustc-link-arg-bin=perstack=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether the compiler is 1.90 or newer (rust-lld by default on x86-64 Linux).
fn rustc_links_with_lld() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let minor = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    let major = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    matches!((major, minor), (Some(1), Some(m)) if m >= 90) || major.is_some_and(|m| m > 1)
}
