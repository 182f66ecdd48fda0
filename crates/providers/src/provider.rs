//! The `Provider` trait and its HTTP implementation for every supported protocol.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use perstack_core::config::{PerstackConfig, ProviderName};
use perstack_core::egress::Egress;

use crate::config::{KeySource, ProviderSpec};
use crate::env::EnvLookup;
use crate::error::ProviderError;
use crate::http::request_headers;
use crate::protocol::{Body, encode};
use crate::retry::RetryPolicy;
use crate::stream::GenerationStream;
use crate::types::GenerationRequest;

/// Something that generates a model turn, streaming.
///
/// Object-safe: the runtime holds an `Arc<dyn Provider>`. `stream` does no I/O; the
/// request is sent when the returned stream is first polled.
pub trait Provider: Send + Sync + fmt::Debug {
    /// Which provider this is.
    fn name(&self) -> ProviderName;
    /// Starts a generation.
    fn stream(&self, request: GenerationRequest) -> GenerationStream;
}

/// Client behaviour shared by all providers.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// When and how often to retry.
    pub retry: RetryPolicy,
    /// Budget of one generation, retries included (`timeout`, default 300 s).
    pub timeout: Duration,
    /// A stream silent for this long is stalled (also the wait for response headers).
    pub idle_timeout: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Largest accepted SSE event.
    pub max_event_bytes: usize,
    /// Honour `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.
    pub use_env_proxy: bool,
    /// Send every request to `perstack proxy` over this Unix socket (no key, no DNS).
    pub egress: Option<Egress>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            retry: RetryPolicy::default(),
            timeout: Duration::from_millis(perstack_core::config::DEFAULT_TIMEOUT_MS),
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(30),
            max_event_bytes: crate::sse::DEFAULT_MAX_EVENT_BYTES,
            use_env_proxy: true,
            egress: None,
        }
    }
}

impl ClientOptions {
    /// Defaults with `maxRetries` and `timeout` taken from `perstack.toml`.
    pub fn from_config(config: &PerstackConfig) -> Self {
        let mut o = ClientOptions::default();
        o.retry.max_retries = config.max_retries();
        o.timeout = Duration::from_millis(config.timeout_ms());
        o
    }
}

/// What every stream of one provider shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) spec: ProviderSpec,
    pub(crate) options: ClientOptions,
    pub(crate) client: reqwest::Client,
}

/// A provider reached over HTTP: Anthropic, OpenAI (and compatible), Azure OpenAI,
/// DeepSeek, Ollama or Gemini, depending on its [`ProviderSpec`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpProvider {
    shared: Arc<Shared>,
}

impl HttpProvider {
    /// A provider for `spec`.
    pub fn new(spec: ProviderSpec, options: ClientOptions) -> Result<Self, ProviderError> {
        // The system's roots are read at the first handshake (or now, in the background,
        // for an https endpoint), not here: see crate::tls.
        let warm = options.egress.is_none() && spec.base_url.scheme() == "https";
        let tls = crate::tls::client_config(warm).map_err(|e| ProviderError::Config {
            provider: spec.name,
            message: format!("cannot configure TLS: {e}"),
        })?;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("perstack/", env!("CARGO_PKG_VERSION")));
        if let Some(egress) = &options.egress {
            // Everything goes to the proxy's socket; it resolves names and speaks TLS.
            builder = builder.no_proxy().unix_socket(egress.socket());
        } else if !options.use_env_proxy {
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|e| ProviderError::Config {
            provider: spec.name,
            message: format!(
                "cannot create the HTTP client: {}",
                crate::http::error_chain(&e)
            ),
        })?;
        Ok(HttpProvider {
            shared: Arc::new(Shared {
                spec,
                options,
                client,
            }),
        })
    }

    /// The provider `perstack.toml` selects (`[provider]`, anthropic by default), with keys
    /// and URLs from `env`, and `maxRetries`/`timeout` from the config.
    pub fn from_config(
        config: &PerstackConfig,
        env: &dyn EnvLookup,
    ) -> Result<Self, ProviderError> {
        Self::from_config_via(config, env, None)
    }

    /// Like [`HttpProvider::from_config`]; with `egress`, every request goes to
    /// `perstack proxy` over its socket and no API key is read (the proxy adds it).
    pub fn from_config_via(
        config: &PerstackConfig,
        env: &dyn EnvLookup,
        egress: Option<Egress>,
    ) -> Result<Self, ProviderError> {
        let table = config.provider.as_ref();
        let keys = match egress {
            Some(_) => KeySource::HeldByProxy,
            None => KeySource::Env,
        };
        let spec = ProviderSpec::from_config_with(
            config.provider_name(),
            table.and_then(|t| t.setting.as_ref()),
            env,
            keys,
        )?;
        let mut options = ClientOptions::from_config(config);
        options.egress = egress;
        Self::new(spec, options)
    }

    /// The endpoint this provider talks to.
    pub fn spec(&self) -> &ProviderSpec {
        &self.shared.spec
    }

    /// The client options in use.
    pub fn options(&self) -> &ClientOptions {
        &self.shared.options
    }
}

impl Provider for HttpProvider {
    fn name(&self) -> ProviderName {
        self.shared.spec.name
    }

    fn stream(&self, request: GenerationRequest) -> GenerationStream {
        let prepared = encode(&self.shared.spec, &request).and_then(|wire| {
            let headers = request_headers(&self.shared.spec, &wire.headers)?;
            let body = match wire.body {
                Body::Bytes(bytes) => bytes,
                Body::Json(value) => {
                    serde_json::to_vec(&value).map_err(|e| ProviderError::InvalidRequest {
                        provider: self.shared.spec.name,
                        message: format!("cannot serialise the request: {e}"),
                    })?
                }
            };
            Ok((wire.url, headers, body))
        });
        let retries_used = request.settings.retries_used;
        GenerationStream::new(Arc::clone(&self.shared), prepared, retries_used)
    }
}
