//! `cargo xtask image`: the container image, built offline. A static `perstack` binary, a root
//! filesystem assembled in `target/image-context/rootfs/`, and `docker build` of a Dockerfile whose
//! final stage is docker/Dockerfile's final stage verbatim, so the offline image and the registry
//! build carry the same layout, labels, user, working folder and entrypoint.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

/// The target the image's binary is built for (glibc, linked statically: `+crt-static`).
pub const TARGET: &str = "x86_64-unknown-linux-gnu";
/// The flags that make the binary static. With an explicit `--target`, cargo applies them to the
/// binary only, not to build scripts and proc-macros (which run on the host).
/// `pack-relative-relocs`: the 25,000 relative relocations a static-pie applies to itself at
/// start take 7 KB as RELR instead of 600 KB as RELA (0.27 ms less of every start,
/// docs/performance.md; glibc 2.36 and later apply either).
pub const RUSTFLAGS: &str = "-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs";
/// The line in docker/Dockerfile that starts the final stage.
pub const FINAL_STAGE_MARKER: &str = "# ---- final stage";
/// The image's user and group.
pub const UID: u32 = 10001;
/// Where Debian's `ca-certificates` package puts the bundle (also the path inside the image).
const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// What `cargo xtask image` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Build the static binary first (else use the one in target/x86_64-unknown-linux-gnu/).
    pub build: bool,
    /// Tags to give the image; empty means `perstack:<version>` and `perstack:latest`.
    pub tags: Vec<String>,
    /// The docker client to run.
    pub docker: String,
}

pub fn run(root: &Path, opts: &Options) -> Result<()> {
    build(root, opts).map(|_| ())
}

/// Builds and smoke-tests the image; returns the tags it was given (the first is the one to run).
pub fn build(root: &Path, opts: &Options) -> Result<Vec<String>> {
    let docker = opts.docker.as_str();
    check_docker(docker)?;
    let meta = WorkspaceMeta::read(root)?;
    let tags = if opts.tags.is_empty() {
        vec![
            format!("perstack:{}", meta.version),
            "perstack:latest".into(),
        ]
    } else {
        opts.tags.clone()
    };

    let bin = static_binary_path(root);
    if opts.build {
        build_static_binary(root)?;
    }
    if !bin.exists() {
        bail!(
            "{} is missing; run `cargo xtask image` without --no-build",
            bin.display()
        );
    }
    check_static(&bin)?;

    let context = target_dir(root).join("image-context");
    assemble_context(root, &bin, &context)?;
    let revision = git_revision(root);
    eprintln!(
        "image: docker build of {} (version {}, revision {revision})",
        context.display(),
        meta.version
    );
    let mut cmd = Command::new(docker);
    cmd.args(["build", "--quiet"]);
    for tag in &tags {
        cmd.args(["--tag", tag]);
    }
    cmd.args(["--build-arg", &format!("VERSION={}", meta.version)])
        .args(["--build-arg", &format!("REVISION={revision}")])
        .args(["--build-arg", &format!("SOURCE={}", meta.repository)])
        .arg(&context);
    let status = cmd.status().context("running docker build")?;
    if !status.success() {
        bail!("docker build failed ({status})");
    }

    let image = &tags[0];
    let size = docker_output(
        docker,
        &["image", "inspect", "--format", "{{.Size}}", image],
    )?;
    let bytes: u64 = size
        .trim()
        .parse()
        .with_context(|| format!("docker image inspect printed {size:?} as the size"))?;
    check_layout(docker, image)?;
    smoke_test(docker, image, &meta.version)?;
    eprintln!(
        "image: {} is {:.1} MB (binary {:.1} MB); smoke test passed",
        tags.join(", "),
        bytes as f64 / 1e6,
        fs::metadata(&bin)?.len() as f64 / 1e6
    );
    Ok(tags)
}

/// Where cargo puts the static binary.
pub fn static_binary_path(root: &Path) -> PathBuf {
    target_dir(root).join(TARGET).join("release/perstack")
}

/// The link map of the static binary (written by crates/cli/build.rs).
pub fn static_link_map(root: &Path) -> PathBuf {
    target_dir(root).join(TARGET).join("release/perstack.map")
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// `cargo build --release --target x86_64-unknown-linux-gnu` with `+crt-static`.
pub fn build_static_binary(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    eprintln!("image: building the static binary (release profile, {TARGET}, {RUSTFLAGS})");
    let t0 = std::time::Instant::now();
    let status = Command::new(cargo)
        .current_dir(root)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("RUSTFLAGS", RUSTFLAGS)
        .args([
            "build",
            "--release",
            "-p",
            "perstack-cli",
            "--bin",
            "perstack",
        ])
        .args(["--target", TARGET])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the static perstack binary failed ({status})");
    }
    eprintln!("image: binary built in {}s", t0.elapsed().as_secs());
    Ok(())
}

/// Refuses a dynamically linked binary: an ELF with a PT_INTERP program header needs a loader
/// (and a libc) that a `FROM scratch` image does not have.
pub fn check_static(bin: &Path) -> Result<()> {
    let elf = fs::read(bin).with_context(|| format!("reading {}", bin.display()))?;
    match elf_has_interpreter(&elf) {
        Some(false) => Ok(()),
        Some(true) => bail!(
            "{} is dynamically linked (it names an ELF interpreter); build it with RUSTFLAGS=\"{RUSTFLAGS}\" --target {TARGET}",
            bin.display()
        ),
        None => bail!("{} is not a 64-bit little-endian ELF file", bin.display()),
    }
}

/// Whether a 64-bit little-endian ELF file has a PT_INTERP program header; `None` if it is not one.
fn elf_has_interpreter(elf: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        if u32_at(phoff + i * phentsize)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

/// The build context: `Dockerfile`, `rootfs/` (the root filesystem, root-owned) and `empty/`
/// (copied as the folders the image's user owns: /workspace, /state, /run/perstack).
pub fn assemble_context(root: &Path, bin: &Path, context: &Path) -> Result<()> {
    if context.exists() {
        fs::remove_dir_all(context)
            .with_context(|| format!("removing the old {}", context.display()))?;
    }
    let rootfs = context.join("rootfs");

    // The fixed files (passwd, group, nsswitch.conf) live in docker/rootfs/, shared with the
    // registry Dockerfile.
    copy_tree(&root.join("docker/rootfs"), &rootfs)?;

    let local_bin = rootfs.join("usr/local/bin");
    make_dir(&local_bin, 0o755)?;
    let dest = local_bin.join("perstack");
    if fs::hard_link(bin, &dest).is_err() {
        fs::copy(bin, &dest).with_context(|| format!("copying {}", bin.display()))?;
    }
    set_mode(&dest, 0o755)?;

    let host_bundle = Path::new("/").join(CA_BUNDLE);
    let bundle = rootfs.join(CA_BUNDLE);
    make_dir(bundle.parent().unwrap_or(&rootfs), 0o755)?;
    fs::copy(&host_bundle, &bundle).with_context(|| {
        format!(
            "copying the CA certificates from {}: install Debian's ca-certificates package \
             (apt-get install ca-certificates)",
            host_bundle.display()
        )
    })?;
    set_mode(&bundle, 0o644)?;

    make_dir(&rootfs.join("tmp"), 0o1777)?;
    make_dir(&rootfs.join("run"), 0o755)?;
    // The user's folders come from `COPY --chown` of this empty folder: a COPY from the context
    // makes everything root's, and --chown would also take over folders that already exist.
    make_dir(&context.join("empty"), 0o755)?;

    let dockerfile =
        fs::read_to_string(root.join("docker/Dockerfile")).context("reading docker/Dockerfile")?;
    fs::write(context.join("Dockerfile"), context_dockerfile(&dockerfile)?)?;
    Ok(())
}

/// The offline Dockerfile: a `rootfs` stage from the local context, then docker/Dockerfile's
/// final stage verbatim.
pub fn context_dockerfile(registry_dockerfile: &str) -> Result<String> {
    let final_stage = final_stage(registry_dockerfile)?;
    Ok(format!(
        "# Generated by `cargo xtask image`: a local `rootfs` stage, then docker/Dockerfile's\n\
         # final stage verbatim. Do not edit; edit docker/Dockerfile.\n\
         FROM scratch AS rootfs\n\
         COPY rootfs/ /rootfs/\n\
         COPY --chown={UID}:{UID} empty/ /rootfs/workspace/\n\
         COPY --chown={UID}:{UID} empty/ /rootfs/state/\n\
         COPY --chown={UID}:{UID} empty/ /rootfs/run/perstack/\n\
         \n\
         {final_stage}"
    ))
}

/// docker/Dockerfile from its final-stage line to the end. It must start `FROM scratch`, name no
/// other image and copy only from the `rootfs` stage: the offline build supplies nothing else.
pub fn final_stage(dockerfile: &str) -> Result<&str> {
    let start = dockerfile.find(FINAL_STAGE_MARKER).with_context(|| {
        format!("docker/Dockerfile has no line starting {FINAL_STAGE_MARKER:?}")
    })?;
    let stage = &dockerfile[start..];
    let instructions: Vec<&str> = stage
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if instructions.first() != Some(&"FROM scratch") {
        bail!("docker/Dockerfile's final stage must start with `FROM scratch`");
    }
    for line in &instructions {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("FROM ") && *line != "FROM scratch" {
            bail!("docker/Dockerfile's final stage names a base image: {line}");
        }
        if (upper.starts_with("COPY ") || upper.starts_with("ADD "))
            && !line.contains("--from=rootfs ")
        {
            bail!("docker/Dockerfile's final stage may only COPY --from=rootfs: {line}");
        }
        if upper.starts_with("RUN ") {
            bail!("docker/Dockerfile's final stage cannot RUN (there is no shell): {line}");
        }
    }
    Ok(stage)
}

/// What the image must hold, as `tar --numeric-owner -tv` lists it: mode, owner, path.
const LAYOUT: &[(&str, &str, &str)] = &[
    ("-rwxr-xr-x", "0/0", "usr/local/bin/perstack"),
    ("-rw-r--r--", "0/0", "etc/ssl/certs/ca-certificates.crt"),
    ("-rw-r--r--", "0/0", "etc/passwd"),
    ("-rw-r--r--", "0/0", "etc/group"),
    ("-rw-r--r--", "0/0", "etc/nsswitch.conf"),
    ("drwxrwxrwt", "0/0", "tmp/"),
    ("drwxr-xr-x", "0/0", "run/"),
    ("drwxr-xr-x", "10001/10001", "run/perstack/"),
    ("drwxr-xr-x", "10001/10001", "workspace/"),
    ("drwxr-xr-x", "10001/10001", "state/"),
];

/// Lists the image's files (`docker create` + `docker export` into `tar -tv`) and checks the
/// modes and owners of [`LAYOUT`].
fn check_layout(docker: &str, image: &str) -> Result<()> {
    let id = docker_output(docker, &["create", image])?
        .trim()
        .to_string();
    let listing = (|| -> Result<String> {
        let mut export = Command::new(docker)
            .args(["export", &id])
            .stdout(Stdio::piped())
            .spawn()
            .context("running docker export")?;
        let stdout = export
            .stdout
            .take()
            .context("docker export has no stdout")?;
        let tar = Command::new("tar")
            .args(["--numeric-owner", "-tvf", "-"])
            .stdin(stdout)
            .output()
            .context("running tar to list the image")?;
        let status = export.wait()?;
        if !status.success() || !tar.status.success() {
            bail!(
                "listing the image failed (docker export {status}, tar {})",
                tar.status
            );
        }
        Ok(String::from_utf8_lossy(&tar.stdout).into_owned())
    })();
    let _ = Command::new(docker)
        .args(["rm", &id])
        .stdout(Stdio::null())
        .status();
    let listing = listing?;
    for (mode, owner, path) in LAYOUT {
        let entry = listing.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.last() == Some(path)).then(|| (fields[0], fields.get(1).copied()))
        });
        match entry {
            Some((m, Some(o))) if m == *mode && o == *owner => {}
            Some((m, o)) => bail!(
                "{image}: /{path} is {m} {}, expected {mode} {owner}",
                o.unwrap_or("?")
            ),
            None => bail!("{image} has no /{path}"),
        }
    }
    Ok(())
}

/// `docker run` of the image with the hardening flags: `--help` must exit 0 and `--version`
/// must print the crate version.
fn smoke_test(docker: &str, image: &str, version: &str) -> Result<()> {
    let hardened = [
        "run",
        "--rm",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--user",
        "10001",
        "--network",
        "none",
    ];
    let help = Command::new(docker)
        .args(hardened)
        .args([image, "--help"])
        .output()
        .context("running docker run")?;
    if !help.status.success() {
        bail!(
            "smoke test: `docker run ... {image} --help` failed ({}): {}",
            help.status,
            String::from_utf8_lossy(&help.stderr)
        );
    }
    let out = docker_output(
        docker,
        &[
            &hardened[..],
            &["--entrypoint", "perstack", image, "--version"],
        ]
        .concat(),
    )?;
    if out.trim() != format!("perstack {version}") {
        bail!(
            "smoke test: `perstack --version` in {image} printed {out:?}, not perstack {version}"
        );
    }
    Ok(())
}

/// Fails with a clear next step when docker is missing or its daemon is not running.
pub fn check_docker(docker: &str) -> Result<()> {
    let out = match Command::new(docker)
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => bail!(
            "`{docker}` was not found: install Docker Engine (Debian: apt-get install docker.io), \
             or name the client with --docker / PERSTACK_DOCKER"
        ),
        Err(e) => return Err(e).with_context(|| format!("running `{docker} version`")),
    };
    if !out.status.success() {
        bail!(
            "the Docker daemon is not reachable through `{docker}`: start it (`sudo systemctl \
             start docker`, or `sudo dockerd > /tmp/dockerd.log 2>&1 &`) and check `{docker} \
             info`. docker said: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn docker_output(docker: &str, args: &[&str]) -> Result<String> {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(docker)
        .args(args)
        .output()
        .with_context(|| format!("running {docker} {}", args.join(" ")))?;
    if !status.success() {
        bail!(
            "`{docker} {}` failed ({status}): {}",
            args.join(" "),
            String::from_utf8_lossy(&stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// The commit the image is built from, `-dirty` when tracked files differ from it.
fn git_revision(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(rev) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if !changes.is_empty() => format!("{rev}-dirty"),
            _ => rev,
        },
        None => "unknown".into(),
    }
}

/// The workspace's version and repository, for the labels.
struct WorkspaceMeta {
    version: String,
    repository: String,
}

impl WorkspaceMeta {
    fn read(root: &Path) -> Result<WorkspaceMeta> {
        let manifest: toml::Table = fs::read_to_string(root.join("Cargo.toml"))
            .context("reading Cargo.toml")?
            .parse()
            .context("parsing Cargo.toml")?;
        let package = manifest
            .get("workspace")
            .and_then(|w| w.get("package"))
            .context("Cargo.toml has no [workspace.package]")?;
        let field = |name: &str| {
            package
                .get(name)
                .and_then(toml::Value::as_str)
                .map(str::to_string)
                .with_context(|| format!("[workspace.package] has no {name}"))
        };
        Ok(WorkspaceMeta {
            version: field("version")?,
            repository: field("repository")?,
        })
    }
}

fn make_dir(dir: &Path, mode: u32) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    set_mode(dir, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// Copies the files under `from` into `to` (folders 0755, files 0644).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    make_dir(to, 0o755)?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else {
            fs::copy(entry.path(), &dest)
                .with_context(|| format!("copying {}", entry.path().display()))?;
            set_mode(&dest, 0o644)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry_dockerfile() -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        fs::read_to_string(root.join("docker/Dockerfile")).unwrap_or_default()
    }

    /// The offline image and the registry build share the final stage, and that stage holds
    /// everything the image promises (docs/container.md).
    #[test]
    fn final_stage_is_shared_and_complete() -> Result<()> {
        let registry = registry_dockerfile();
        let stage = final_stage(&registry)?;
        let generated = context_dockerfile(&registry)?;
        assert!(generated.ends_with(stage));
        for needed in [
            "COPY --from=rootfs /rootfs/ /",
            "USER 10001:10001",
            "WORKDIR /workspace",
            "ENV PATH=/usr/local/bin",
            r#"ENTRYPOINT ["perstack", "run"]"#,
            "HEALTHCHECK NONE",
            "ARG VERSION",
            "ARG REVISION",
            r#"org.opencontainers.image.version="${VERSION}""#,
            r#"org.opencontainers.image.revision="${REVISION}""#,
            "org.opencontainers.image.title=",
            "org.opencontainers.image.source=",
            r#"org.opencontainers.image.licenses="Apache-2.0""#,
        ] {
            assert!(stage.contains(needed), "the final stage lacks {needed:?}");
        }
        // The registry build's rootfs stage builds with the same flags and target.
        assert!(registry.contains(&format!("RUSTFLAGS=\"{RUSTFLAGS}\"")));
        assert!(registry.contains(&format!("--target {TARGET}")));
        Ok(())
    }

    #[test]
    fn final_stage_refuses_what_the_offline_build_cannot_supply() {
        let head = "FROM x AS rootfs\n# ---- final stage ----\n";
        assert!(final_stage("FROM scratch\n").is_err());
        assert!(final_stage(&format!("{head}FROM debian\n")).is_err());
        assert!(final_stage(&format!("{head}FROM scratch\nCOPY x /x\n")).is_err());
        assert!(final_stage(&format!("{head}FROM scratch\nRUN true\n")).is_err());
        assert!(
            final_stage(&format!(
                "{head}FROM scratch\nCOPY --from=rootfs /rootfs/ /\n"
            ))
            .is_ok()
        );
    }

    #[test]
    fn elf_interpreter_is_detected() {
        let mut elf = vec![0u8; 0x40 + 2 * 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        elf[0x40..0x44].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        assert_eq!(elf_has_interpreter(&elf), Some(false));
        elf[0x40 + 56..0x44 + 56].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        assert_eq!(elf_has_interpreter(&elf), Some(true));
        assert_eq!(elf_has_interpreter(b"#!/bin/sh\n"), None);
    }
}
