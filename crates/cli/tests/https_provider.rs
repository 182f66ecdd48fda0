//! `perstack run` against a provider over https: the release TLS stack (rustls with the ring
//! provider, roots from the platform verifier) completes a real handshake on loopback, and
//! refuses a server whose certificate it cannot chain to a trusted root.
//!
//! The server is the scripted LLM behind a small TLS front with a test CA. The CA reaches the
//! child through `SSL_CERT_FILE`, the variable a container without system CA certificates
//! would use too (set on the child only).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use perstack_testkit::ScriptedLlm;
use pretty_assertions::assert_eq;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A CA written to `dir/<name>.pem`, able to sign server certificates.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem_file: PathBuf,
}

impl TestCa {
    fn new(dir: &Path, name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("perstack test CA {name}"));
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem_file = dir.join(format!("{name}.pem"));
        std::fs::write(&pem_file, issuer.pem()).unwrap();
        TestCa { issuer, pem_file }
    }

    /// A server certificate chain and key for 127.0.0.1.
    fn server_identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let chain = vec![cert.der().clone(), self.issuer.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (chain, key)
    }
}

/// Terminates TLS on an ephemeral loopback port and forwards each request (one per
/// connection: the scripted server closes after answering) to `upstream` in plain HTTP.
/// Returns the https base URL.
fn tls_front(ca: &TestCa, upstream_base: &str) -> String {
    let upstream = upstream_base
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_string();
    let (chain, key) = ca.server_identity();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                // A client that refuses our certificate ends the handshake; nothing to do.
                let _ = forward(config, tcp, &upstream);
            });
        }
    });
    format!("https://127.0.0.1:{port}/v1")
}

fn forward(
    config: Arc<rustls::ServerConfig>,
    tcp: TcpStream,
    upstream: &str,
) -> std::io::Result<()> {
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let request = read_request(&mut tls)?;
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(&request)?;
    std::io::copy(&mut up, &mut tls)?;
    tls.conn.send_close_notify();
    tls.flush()
}

/// The head and `content-length` body of one HTTP/1.1 request.
fn read_request(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            if buf.len() >= end + 4 + length {
                buf.truncate(end + 4 + length);
                return Ok(buf);
            }
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Runs the demo Expert against `base_url`, trusting only the roots in `cert_file`.
fn run_demo(base_url: &str, cert_file: &Path, workspace: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perstack"))
        .args([
            "run",
            "--config",
            "examples/demo/perstack.toml",
            "--provider",
            "openai",
            "--model",
            "scripted-model",
            "--max-retries",
            "0",
            "--workspace",
        ])
        .arg(workspace)
        .args(["greeter", "Write a short greeting to hello.md"])
        .current_dir(root())
        .env_remove("PERSTACK_LOG")
        .env_remove("SSL_CERT_DIR")
        .env("SSL_CERT_FILE", cert_file)
        .env("OPENAI_BASE_URL", base_url)
        // Set on the child only; the key is not a secret and reaches only loopback.
        .env("OPENAI_API_KEY", "scripted-key-not-a-secret")
        .output()
        .unwrap()
}

fn event_types(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| e["type"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_run_completes_against_an_https_provider_whose_ca_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "trusted");
    let llm = ScriptedLlm::from_file(&root().join("examples/demo/script.json")).unwrap();
    let base_url = tls_front(&ca, &llm.base_url);
    let ws = tempfile::tempdir().unwrap();

    let out = run_demo(&base_url, &ca.pem_file, ws.path());

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        event_types(&out).iter().any(|t| t == "completeRun"),
        "stderr: {stderr}"
    );
    assert_eq!(llm.served(), 4);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("hello.md")).unwrap(),
        "# Hello\n\nHello from a perstack Expert!\n"
    );
}

#[test]
fn a_run_refuses_an_https_provider_whose_certificate_no_trusted_root_signed() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = TestCa::new(dir.path(), "server");
    let other_ca = TestCa::new(dir.path(), "other");
    let llm = ScriptedLlm::from_file(&root().join("examples/demo/script.json")).unwrap();
    let base_url = tls_front(&server_ca, &llm.base_url);
    let ws = tempfile::tempdir().unwrap();

    let out = run_demo(&base_url, &other_ca.pem_file, ws.path());

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(
        llm.served(),
        0,
        "no request may pass an untrusted handshake"
    );
    let all = format!("{stderr}{}", String::from_utf8_lossy(&out.stdout));
    assert!(all.contains("UnknownIssuer"), "{all}");
    assert!(!ws.path().join("hello.md").exists());
}
