//! What the container tests share: the host side of the production shape (the scripted LLM
//! server on loopback, `perstack proxy` on a socket folder, per-user workspace and state
//! folders owned by the image's uid) and `docker run` with every hardening flag.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use perstack_testkit::ScriptedLlm;
use serde_json::Value;

/// The image's user and group.
pub const UID: u32 = 10001;
/// The key only the proxy holds; a test greps for it everywhere the runner can reach.
pub const KEY: &str = "sk-e2e-held-by-the-proxy-0123456789";
/// The socket inside every runner container.
pub const SOCKET_IN_CONTAINER: &str = "unix:///run/perstack/egress.sock";

/// The image under test (`cargo xtask e2e` builds it and sets this).
pub fn image() -> String {
    std::env::var("PERSTACK_E2E_IMAGE").unwrap_or_else(|_| "perstack:latest".into())
}

/// The docker client.
pub fn docker() -> Command {
    Command::new(std::env::var("PERSTACK_E2E_DOCKER").unwrap_or_else(|_| "docker".into()))
}

/// A folder owned by the image's user, so the non-root container can write it.
pub fn owned_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(dir.path(), Some(UID), Some(UID)).unwrap();
    dir
}

/// `perstack proxy` on the host, holding [`KEY`], allowing the scripted LLM server.
pub struct Proxy {
    child: Child,
    /// The folder holding the socket (mounted at /run/perstack).
    pub socket_dir: tempfile::TempDir,
    access: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
}

impl Proxy {
    /// Starts the proxy for `config` with the scripted server at `llm` as a private upstream.
    pub fn start(config: &Path, llm: &ScriptedLlm, extra: &[&str]) -> Proxy {
        let socket_dir = tempfile::tempdir().unwrap();
        // The container user must reach the socket through its folder.
        std::fs::set_permissions(
            socket_dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let socket = socket_dir.path().join("egress.sock");
        let upstream = llm.base_url.trim_end_matches("/v1").to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_perstack"))
            .arg("proxy")
            .arg("--config")
            .arg(config)
            .arg("--socket")
            .arg(&socket)
            .args(["--socket-mode", "0660", "--socket-group", &UID.to_string()])
            .args(["--allow-private", &upstream])
            .args(extra)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("OPENAI_API_KEY", KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let access = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let sink = Arc::clone(&access);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap().push(v);
            }
        });
        let err = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let t0 = Instant::now();
        while !socket.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the proxy did not create its socket: {}",
                stderr.lock().unwrap()
            );
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the proxy exited ({status}): {}", stderr.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Proxy {
            child,
            socket_dir,
            access,
            stderr,
        }
    }

    /// Access records written so far.
    pub fn access(&self) -> Vec<Value> {
        self.access.lock().unwrap().clone()
    }

    /// Everything the proxy printed: access lines and stderr.
    pub fn all_output(&self) -> String {
        let lines: Vec<String> = self.access().iter().map(Value::to_string).collect();
        format!("{}\n{}", lines.join("\n"), self.stderr.lock().unwrap())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One user's execution environment: a config folder (mounted read-only at /config), a
/// workspace and a state folder.
pub struct Sandbox {
    /// Holds perstack.toml.
    pub config_dir: tempfile::TempDir,
    /// The user's files.
    pub workspace: tempfile::TempDir,
    /// Jobs, checkpoints, event logs.
    pub state: tempfile::TempDir,
}

impl Sandbox {
    /// A sandbox whose config is `toml` with the scripted LLM as an OpenAI provider.
    pub fn new(llm: &ScriptedLlm, experts_toml: &str) -> Sandbox {
        let config_dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            config_dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let toml = format!(
            "model = \"scripted-model\"\nmaxRetries = 1\n\n[provider]\nproviderName = \"openai\"\n\
             [provider.setting]\nbaseUrl = \"{}\"\n\n{experts_toml}",
            llm.base_url
        );
        let path = config_dir.path().join("perstack.toml");
        std::fs::write(&path, toml).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        Sandbox {
            config_dir,
            workspace: owned_dir(),
            state: owned_dir(),
        }
    }

    /// The config file on the host.
    pub fn config(&self) -> PathBuf {
        self.config_dir.path().join("perstack.toml")
    }

    /// `docker run` with every hardening flag, this sandbox's mounts and the proxy socket;
    /// `args` follow the image's `perstack run` entrypoint.
    pub fn run_command(&self, proxy: &Proxy, name: &str, args: &[&str]) -> Command {
        self.run_command_with_memory(proxy, name, "256m", args)
    }

    /// [`Sandbox::run_command`] with another memory limit.
    pub fn run_command_with_memory(
        &self,
        proxy: &Proxy,
        name: &str,
        memory: &str,
        args: &[&str],
    ) -> Command {
        let mut cmd = docker();
        cmd.args(["run", "--rm", "--name", name])
            .args(["--read-only", "--tmpfs", "/tmp"])
            .args(["--cap-drop", "ALL", "--security-opt", "no-new-privileges"])
            .args(["--user", "10001:10001", "--network", "none"])
            .args(["--memory", memory, "--memory-swap", memory])
            .args(["--pids-limit", "128"])
            .arg("-v")
            .arg(format!("{}:/workspace", self.workspace.path().display()))
            .arg("-v")
            .arg(format!("{}:/state", self.state.path().display()))
            .arg("-v")
            .arg(format!("{}:/config:ro", self.config_dir.path().display()))
            // Read-only: a runner can connect, but not replace the socket another uses.
            .arg("-v")
            .arg(format!(
                "{}:/run/perstack:ro",
                proxy.socket_dir.path().display()
            ))
            .args(["-e", "PERSTACK_STATE_DIR=/state"])
            .args(["-e", &format!("PERSTACK_EGRESS={SOCKET_IN_CONTAINER}")])
            .args(["-e", "PERSTACK_CONFIG=/config/perstack.toml"])
            .arg(image())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a container to its end.
    pub fn run(&self, proxy: &Proxy, args: &[&str]) -> Run {
        let name = container_name();
        let out = self.run_command(proxy, &name, args).output().unwrap();
        Run::from_output(name, out)
    }

    /// The ids of the jobs in the state folder.
    pub fn jobs(&self) -> Vec<String> {
        let mut jobs: Vec<String> = std::fs::read_dir(self.state.path().join("jobs"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        jobs.sort();
        jobs
    }
}

/// A unique container name, so a failed test's container can be found and removed.
pub fn container_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "perstack-e2e-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A finished container.
#[derive(Debug)]
pub struct Run {
    /// The container's name.
    pub name: String,
    /// Exit code.
    pub code: Option<i32>,
    /// Events (stdout lines).
    pub events: Vec<Value>,
    /// stdout, raw.
    pub stdout: String,
    /// stderr, raw.
    pub stderr: String,
}

impl Run {
    fn from_output(name: String, out: Output) -> Run {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let events = stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line is no event ({e}): {l}"))
            })
            .collect();
        Run {
            name,
            code: out.status.code(),
            events,
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Event types in order.
    pub fn types(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| e["type"].as_str().map(str::to_string))
            .collect()
    }

    /// The first event of `kind`.
    pub fn first(&self, kind: &str) -> Option<&Value> {
        self.events.iter().find(|e| e["type"] == kind)
    }

    /// The job id the run reported.
    pub fn job_id(&self) -> String {
        self.events
            .iter()
            .find_map(|e| e["jobId"].as_str())
            .unwrap_or_else(|| panic!("no jobId in the events; stderr: {}", self.stderr))
            .to_string()
    }

    /// A readable account for assertion messages.
    pub fn explain(&self) -> String {
        format!(
            "container {} exit {:?}\nevent types: {:?}\nstderr:\n{}",
            self.name,
            self.code,
            self.types(),
            self.stderr
        )
    }
}
