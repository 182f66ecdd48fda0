//! The workspace path resolver (crates/sandbox/src/workspace) on arbitrary tool paths, in a
//! workspace holding links that point out of it (`..`, an absolute path, a loop) and the
//! reserved `perstack/` folder: whatever resolves is inside the root (also after the kernel
//! resolves it), never under `perstack/`, and both resolution modes agree on what resolves.
#![no_main]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use perstack_sandbox::workspace::{ResolveMode, Workspace, is_reserved_name};

fn root() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("perstack-fuzz-ws-{}", std::process::id()));
        let ws = base.join("ws");
        let _ = std::fs::create_dir_all(ws.join("a/b"));
        let _ = std::fs::create_dir_all(ws.join("perstack/jobs"));
        let _ = std::fs::create_dir_all(base.join("outside"));
        let _ = std::fs::write(ws.join("a/f.txt"), "inside");
        let _ = std::fs::write(base.join("outside/secret"), "outside");
        let _ = symlink("..", ws.join("up"));
        let _ = symlink(base.join("outside"), ws.join("abs"));
        let _ = symlink("loop", ws.join("loop"));
        let _ = symlink("a", ws.join("in"));
        let _ = symlink("perstack", ws.join("state"));
        let _ = symlink("a/../../outside/secret", ws.join("a/esc"));
        ws
    })
}

fn inside(root: &Path, p: &Path) -> bool {
    let Ok(rel) = p.strip_prefix(root) else {
        return false;
    };
    let mut parts = rel.components();
    !parts
        .next()
        .is_some_and(|first| is_reserved_name(first.as_os_str().as_encoded_bytes()))
}

fuzz_target!(|input: &[u8]| {
    let Ok(path) = std::str::from_utf8(input) else {
        return;
    };
    let root = root();
    let Ok(kernel) = Workspace::open_with(root, Some(ResolveMode::Openat2)) else {
        return;
    };
    let Ok(walk) = Workspace::open_with(root, Some(ResolveMode::NoFollowWalk)) else {
        return;
    };
    let canonical = kernel.root().to_path_buf();
    let by_kernel = kernel.check_path(path);
    let by_walk = walk.check_path(path);
    for resolved in [&by_kernel, &by_walk].into_iter().flatten() {
        assert!(
            inside(&canonical, resolved),
            "{path:?} resolved to {resolved:?}"
        );
        // What the kernel makes of the result (links followed) is inside too.
        if let Ok(real) = std::fs::canonicalize(resolved) {
            assert!(inside(&canonical, &real), "{path:?} reaches {real:?}");
        }
    }
    assert_eq!(
        by_kernel.is_ok(),
        by_walk.is_ok(),
        "{path:?}: openat2 {by_kernel:?}, walk {by_walk:?}"
    );
    if let Ok((read, _)) = kernel.read_file(path, 4096) {
        assert!(inside(&canonical, &read), "{path:?} read {read:?}");
    }
});
