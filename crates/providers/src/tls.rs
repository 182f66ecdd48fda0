//! The TLS crypto provider. reqwest is built without one (its default, aws-lc-rs, is a large C
//! library), so ring is installed as the process default before the first client is built.

/// Installs ring as the process's rustls crypto provider unless one is already installed.
pub(crate) fn install_crypto_provider() {
    // An error means a provider is already installed (by us, the sandbox crate or the
    // embedding program); reqwest then uses that one, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
