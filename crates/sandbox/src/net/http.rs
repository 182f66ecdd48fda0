//! The guard wired into `reqwest`: names resolved through the guard (so the connection goes
//! to the checked addresses, with no second resolution), every redirect checked again, and
//! no proxy from the environment (a proxy would resolve names itself).

use std::sync::Arc;

use super::{NetworkGuard, Refusal};

/// Longest redirect chain followed.
pub const MAX_REDIRECTS: usize = 10;

/// A `reqwest` resolver that only hands out checked addresses.
#[derive(Debug, Clone)]
pub struct GuardedDns {
    guard: Arc<NetworkGuard>,
}

impl GuardedDns {
    /// Wraps `guard`.
    pub fn new(guard: Arc<NetworkGuard>) -> Self {
        GuardedDns { guard }
    }
}

impl reqwest::dns::Resolve for GuardedDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let addrs = guard.check_host(name.as_str(), 0).await.map_err(Box::new)?;
            let iter: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(iter)
        })
    }
}

/// A client builder with the guard installed: guarded resolution, guarded redirects,
/// no environment proxy. Callers add timeouts and TLS settings.
pub fn client_builder(guard: Arc<NetworkGuard>) -> reqwest::ClientBuilder {
    install_crypto_provider();
    let for_redirects = guard.clone();
    reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(Arc::new(GuardedDns::new(guard)))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(Refusal::TooManyRedirects(MAX_REDIRECTS));
            }
            // Names are checked again by the resolver at connect time; literals and the
            // allowlist are checked here.
            match for_redirects.check_static(attempt.url()) {
                Ok(_) => attempt.follow(),
                Err(refusal) => attempt.error(refusal),
            }
        }))
}

/// Installs ring as the process's rustls crypto provider unless one is already installed:
/// reqwest is built without one (its default, aws-lc-rs, is a large C library).
fn install_crypto_provider() {
    // An error means a provider is already installed (by us, the providers crate or the
    // embedding program); reqwest then uses that one, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A guarded HTTP client: checks each request's URL before sending it.
#[derive(Debug, Clone)]
pub struct GuardedClient {
    client: reqwest::Client,
    guard: Arc<NetworkGuard>,
}

impl GuardedClient {
    /// Builds a client with [`client_builder`].
    pub fn new(guard: Arc<NetworkGuard>) -> Result<Self, reqwest::Error> {
        let client = client_builder(guard.clone()).build()?;
        Ok(GuardedClient { client, guard })
    }

    /// The underlying client (for transports that take one); requests sent through it
    /// directly skip the literal-address check of the first URL, so check it with
    /// [`NetworkGuard::check_url`] first.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` after checking its URL.
    pub async fn execute(
        &self,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, GuardedError> {
        self.guard.check_static(request.url())?;
        self.client
            .execute(request)
            .await
            .map_err(|e| match find_refusal(&e) {
                Some(r) => GuardedError::Refused(r),
                None => GuardedError::Http(e),
            })
    }
}

/// A guarded request failed.
#[derive(Debug, thiserror::Error)]
pub enum GuardedError {
    /// The guard refused (the first URL, a redirect, or a resolved address).
    #[error("network access refused: {0}")]
    Refused(#[from] Refusal),
    /// The request itself failed.
    #[error(transparent)]
    Http(reqwest::Error),
}

/// The guard's refusal somewhere in an error's source chain.
fn find_refusal(err: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Refusal>() {
            return Some(r.clone());
        }
        if let Some(r) = e.downcast_ref::<Box<Refusal>>() {
            return Some((**r).clone());
        }
        cur = e.source();
    }
    None
}
