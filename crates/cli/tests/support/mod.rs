//! Helpers for running the real `perstack` binary against a local LLM server.

#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: failing loudly is the point

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use perstack_testkit::{Finished, Watched};
use serde_json::Value;
use tempfile::TempDir;

/// The Expert every end-to-end test runs: no skills declared, so it gets the base skill.
pub const CONFIG: &str = r#"
maxSteps = 40

[experts."worker"]
version = "1.0.0"
description = "Does what the scripted model says."
instruction = "Follow the user's request using the workspace tools."
"#;

/// The [`CONFIG`] Expert with one skill, `name`, declared by `body` (its TOML lines).
pub fn config_with_skill(name: &str, body: &str) -> String {
    format!("{CONFIG}\n[experts.\"worker\".skills.\"{name}\"]\n{body}\n")
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The key every test provider uses: not a secret, it only ever reaches loopback.
pub const KEY: &str = "e2e-key-not-a-secret";

/// Where the model is: a provider name, a model id, and the child's environment that
/// points the provider at the local server.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `--provider`.
    pub provider: String,
    /// `--model`.
    pub model: String,
    /// Variables set on the child process only.
    pub env: Vec<(String, String)>,
}

impl Endpoint {
    /// OpenAI Chat Completions at `base_url`.
    pub fn openai(base_url: &str) -> Self {
        Endpoint {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            env: vec![
                ("OPENAI_BASE_URL".into(), base_url.into()),
                ("OPENAI_API_KEY".into(), KEY.into()),
            ],
        }
    }

    /// Anthropic Messages at `base_url`.
    pub fn anthropic(base_url: &str) -> Self {
        Endpoint {
            provider: "anthropic".into(),
            model: "claude-sonnet-4-6".into(),
            env: vec![
                ("ANTHROPIC_BASE_URL".into(), base_url.into()),
                ("ANTHROPIC_API_KEY".into(), KEY.into()),
            ],
        }
    }

    /// Gemini at `base_url`.
    pub fn google(base_url: &str) -> Self {
        Endpoint {
            provider: "google".into(),
            model: "gemini-2.5-pro".into(),
            env: vec![
                ("GOOGLE_GENERATIVE_AI_BASE_URL".into(), base_url.into()),
                ("GOOGLE_GENERATIVE_AI_API_KEY".into(), KEY.into()),
            ],
        }
    }

    /// An OpenAI-compatible server (Ollama's dialect) at `server_url` (no `/v1`: the provider
    /// adds it, as users write Ollama's URL).
    pub fn ollama(server_url: &str) -> Self {
        Endpoint {
            provider: "ollama".into(),
            model: "llama3.2".into(),
            env: vec![("OLLAMA_BASE_URL".into(), server_url.into())],
        }
    }
}

/// A workspace and a config folder for one test.
#[derive(Debug)]
pub struct Setup {
    /// The workspace the Expert works in (checkpoints under `perstack/`).
    pub workspace: TempDir,
    config_dir: TempDir,
}

impl Setup {
    /// A fresh workspace and the [`CONFIG`].
    pub fn new() -> Self {
        let config_dir = tempfile::tempdir().unwrap();
        std::fs::write(config_dir.path().join("perstack.toml"), CONFIG).unwrap();
        Setup {
            workspace: tempfile::tempdir().unwrap(),
            config_dir,
        }
    }

    /// Replaces the config.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_dir.path().join("perstack.toml"), text).unwrap();
    }

    /// The config file (`perstack.toml` in its own folder).
    pub fn config_path(&self) -> PathBuf {
        self.config_dir.path().join("perstack.toml")
    }

    /// The workspace folder.
    pub fn ws(&self) -> &Path {
        self.workspace.path()
    }

    /// `perstack run --config .. --workspace .. --provider .. --model .. <extra> worker <query>`.
    pub fn run_command(&self, endpoint: &Endpoint, extra: &[&str], query: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_perstack"));
        cmd.arg("run")
            .arg("--config")
            .arg(self.config_dir.path().join("perstack.toml"))
            .arg("--workspace")
            .arg(self.ws())
            .args(["--provider", &endpoint.provider])
            .args(["--model", &endpoint.model])
            .args(extra)
            .args(["worker", query])
            .current_dir(self.config_dir.path())
            .env_remove("PERSTACK_LOG");
        // Loopback only: no proxy may get in the way.
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in &endpoint.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts a run, watching its events.
    pub fn spawn(&self, endpoint: &Endpoint, extra: &[&str], query: &str) -> Watched {
        Watched::spawn(&mut self.run_command(endpoint, extra, query)).unwrap()
    }

    /// Runs to the end.
    pub fn run(&self, endpoint: &Endpoint, extra: &[&str], query: &str) -> Finished {
        self.spawn(endpoint, extra, query).finish().unwrap()
    }

    /// `perstack log --verify` of the job: exit code and stdout.
    pub fn verify(&self, job_id: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_perstack"))
            .args(["log", "--verify", "--job", job_id, "--workspace"])
            .arg(self.ws())
            .output()
            .unwrap()
    }

    /// Asserts `perstack log --verify` passes for the job.
    pub fn assert_verified(&self, job_id: &str) {
        let out = self.verify(job_id);
        assert_eq!(
            out.status.code(),
            Some(0),
            "log --verify failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    /// The job's record (`job.json`).
    pub fn job(&self, job_id: &str) -> Value {
        let path = self.job_dir(job_id).join("job.json");
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// `perstack/jobs/<id>`.
    pub fn job_dir(&self, job_id: &str) -> PathBuf {
        self.ws().join("perstack/jobs").join(job_id)
    }
}

/// Bytes as lossy text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The job id the events carry.
pub fn job_id(events: &[Value]) -> String {
    events
        .iter()
        .find_map(|e| e["jobId"].as_str())
        .expect("an event with a jobId")
        .to_string()
}

/// Run events only (runtime events such as `skillConnected` or `initializeRuntime` left out);
/// `stopRunBySignal`, `completeRun` and friends are run events.
pub fn run_event_types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.get("stepNumber").is_some())
        .filter_map(|e| e["type"].as_str().map(str::to_string))
        .collect()
}

/// Asserts the run completed: exit 0 and `completeRun` as the last run event.
pub fn assert_completed(f: &Finished) {
    assert_eq!(
        f.code(),
        Some(0),
        "stderr: {}\nevents: {:?}",
        f.stderr,
        f.types()
    );
    assert_eq!(
        run_event_types(&f.events).last().map(String::as_str),
        Some("completeRun"),
        "{:?}",
        f.types()
    );
}
