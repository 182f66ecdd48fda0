//! TLS for provider clients: rustls with the ring provider (reqwest is built without one; its
//! default, aws-lc-rs, is a large C library), verifying servers against the system's roots
//! with `rustls-platform-verifier`, as reqwest does by default.
//!
//! Reading the system's roots (every file of `/etc/ssl/certs`, a few milliseconds) is what
//! reqwest's builder did first; here it happens when the first server certificate is
//! verified, or on a background thread started with the client when the provider's URL is
//! `https`. A run against a plain-`http` endpoint (Ollama, a local mock, the egress proxy's
//! socket) never reads them, and none starts later than it did. Verification is unchanged:
//! the same verifier, the same roots, the same errors (a machine without roots fails the
//! first `https` handshake instead of the client's construction).

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Installs ring as the process's rustls crypto provider unless one is already installed.
pub(crate) fn install_crypto_provider() {
    // An error means a provider is already installed (by us, the sandbox crate or the
    // embedding program); reqwest then uses that one, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The process's crypto provider (ring unless the embedding program installed another).
fn crypto_provider() -> Arc<CryptoProvider> {
    install_crypto_provider();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The platform verifier, built on first use.
#[derive(Debug)]
pub(crate) struct LazyVerifier {
    provider: Arc<CryptoProvider>,
    inner: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>>,
}

impl LazyVerifier {
    fn new(provider: Arc<CryptoProvider>) -> Self {
        LazyVerifier {
            provider,
            inner: OnceLock::new(),
        }
    }

    /// The verifier, reading the system's roots the first time.
    fn get(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.inner
            .get_or_init(|| rustls_platform_verifier::Verifier::new(Arc::clone(&self.provider)))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls13_signature(message, cert, dss)
    }

    /// Asked when the ClientHello is built, before any certificate: answered from the crypto
    /// provider, as the platform verifier itself answers (its WebPKI verifier's schemes are
    /// the provider's), so that building the hello reads no roots.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The rustls configuration reqwest would build by default (TLS 1.3 and 1.2, SNI, ALPN h2
/// then http/1.1, the platform verifier), with the verifier built lazily. `warm` starts
/// reading the roots now on a background thread (for an `https` endpoint).
pub(crate) fn client_config(warm: bool) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = crypto_provider();
    let verifier = Arc::new(LazyVerifier::new(Arc::clone(&provider)));
    if warm {
        let v = Arc::clone(&verifier);
        // Best effort: if the thread cannot start, the first handshake reads the roots.
        let _ = std::thread::Builder::new()
            .name("perstack-tls-roots".into())
            .spawn(move || {
                let _ = v.get();
            });
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hello_needs_no_roots_and_a_bad_certificate_is_refused() {
        let verifier = LazyVerifier::new(crypto_provider());
        assert!(!verifier.supported_verify_schemes().is_empty());
        assert!(verifier.inner.get().is_none(), "schemes read the roots");
        // Garbage is not a certificate of any trusted root: refused, not accepted.
        let name = ServerName::try_from("example.invalid").unwrap();
        let err = verifier
            .verify_server_cert(
                &CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]),
                &[],
                &name,
                &[],
                UnixTime::now(),
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(_) | rustls::Error::General(_)
            ),
            "{err:?}"
        );
        assert!(verifier.inner.get().is_some());
    }

    #[test]
    fn the_config_offers_h2_and_http1() {
        let config = client_config(false).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert!(config.enable_sni);
    }
}
