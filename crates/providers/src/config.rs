//! Building a provider's endpoint from `perstack.toml` (`[provider]`) and the environment,
//! with the same variables and precedence as Perstack: a `[provider.setting]` value wins
//! over the environment variable.

use perstack_core::config::{ProviderName, ProviderSetting};
use reqwest::header::{HeaderName, HeaderValue};
use url::Url;

use crate::env::{EnvLookup, non_empty};
use crate::error::ProviderError;
use crate::secret::Secret;

/// The Anthropic API version sent by default.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// How the API key is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStyle {
    /// In a header of its own (`x-api-key`, `api-key`, `x-goog-api-key`).
    Header(String),
    /// As `Authorization: Bearer <key>`.
    Bearer,
}

/// Options of the Anthropic Messages protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnthropicOptions {
    /// `anthropic-version` header value.
    pub version: String,
}

/// Which dialect of OpenAI Chat Completions an endpoint speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenAiFlavor {
    /// OpenAI itself: `max_completion_tokens`, `reasoning_effort` for reasoning models.
    OpenAi,
    /// Azure OpenAI: `api-version` query, deployment or v1 URLs.
    Azure {
        /// `api-version` query value.
        api_version: String,
        /// `/deployments/<model>/chat/completions` instead of `/v1/chat/completions`.
        deployment_urls: bool,
    },
    /// An OpenAI-compatible server (Ollama, vLLM, llama.cpp, DeepSeek): `max_tokens`, no
    /// OpenAI-only parameters.
    Compatible,
}

/// Options of the OpenAI Chat Completions protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiOptions {
    /// Dialect.
    pub flavor: OpenAiFlavor,
    /// `OpenAI-Organization` header.
    pub organization: Option<String>,
    /// `OpenAI-Project` header.
    pub project: Option<String>,
}

/// The wire protocol an endpoint speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// Anthropic Messages API.
    Anthropic(AnthropicOptions),
    /// OpenAI Chat Completions (and compatible servers).
    OpenAi(OpenAiOptions),
    /// Google Gemini `streamGenerateContent`.
    Gemini,
}

/// Everything needed to talk to one provider endpoint. `Debug` never shows the key.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSpec {
    /// The provider, for errors and logs.
    pub name: ProviderName,
    /// API base URL, including the version prefix (`.../v1`, `.../v1beta`), as the AI SDK
    /// that Perstack uses expects it.
    pub base_url: Url,
    /// The API key, if the endpoint needs one.
    pub api_key: Option<Secret>,
    /// How the key is sent.
    pub auth: AuthStyle,
    /// Extra headers (from `[provider.setting] headers`); they override ours.
    pub headers: Vec<(String, String)>,
    /// Protocol and its options.
    pub protocol: Protocol,
}

/// Where a provider's API key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The environment (`ANTHROPIC_API_KEY`, ...); a missing key is an error.
    Env,
    /// `perstack proxy` adds the key outside the sandbox: none is read or sent.
    HeldByProxy,
}

impl ProviderSpec {
    /// The spec for `name` from its `[provider.setting]` and the environment.
    pub fn from_config(
        name: ProviderName,
        setting: Option<&ProviderSetting>,
        env: &dyn EnvLookup,
    ) -> Result<ProviderSpec, ProviderError> {
        Self::from_config_with(name, setting, env, KeySource::Env)
    }

    /// The spec for `name`, taking the key from `keys`.
    pub fn from_config_with(
        name: ProviderName,
        setting: Option<&ProviderSetting>,
        env: &dyn EnvLookup,
        keys: KeySource,
    ) -> Result<ProviderSpec, ProviderError> {
        let default_setting = ProviderSetting::default();
        let setting = setting.unwrap_or(&default_setting);
        let cfg = |message: String| ProviderError::Config {
            provider: name,
            message,
        };
        let required_key = |var: &str| match keys {
            KeySource::HeldByProxy => Ok(None),
            KeySource::Env => non_empty(env, var)
                .map(|k| Some(Secret::new(k)))
                .ok_or_else(|| cfg(format!("{var} is not set"))),
        };
        let base = |var: &str, default: &str| -> Result<Url, ProviderError> {
            let raw = setting
                .base_url
                .clone()
                .filter(|s| !s.trim().is_empty())
                .or_else(|| non_empty(env, var))
                .unwrap_or_else(|| default.to_string());
            parse_base_url(&raw).map_err(|m| cfg(format!("base URL {raw:?}: {m}")))
        };
        let headers = extra_headers(setting).map_err(cfg)?;
        let spec = match name {
            ProviderName::Anthropic => {
                let (api_key, auth) = match (keys, non_empty(env, "ANTHROPIC_API_KEY")) {
                    (KeySource::HeldByProxy, _) => (None, AuthStyle::Header("x-api-key".into())),
                    (KeySource::Env, Some(key)) => (
                        Some(Secret::new(key)),
                        AuthStyle::Header("x-api-key".into()),
                    ),
                    // The Anthropic SDKs' convention for bearer tokens (gateways, proxies).
                    (KeySource::Env, None) => match non_empty(env, "ANTHROPIC_AUTH_TOKEN") {
                        Some(token) => (Some(Secret::new(token)), AuthStyle::Bearer),
                        None => return Err(cfg("ANTHROPIC_API_KEY is not set".into())),
                    },
                };
                ProviderSpec {
                    name,
                    base_url: base("ANTHROPIC_BASE_URL", "https://api.anthropic.com/v1")?,
                    api_key,
                    auth,
                    headers,
                    protocol: Protocol::Anthropic(AnthropicOptions {
                        version: ANTHROPIC_VERSION.into(),
                    }),
                }
            }
            ProviderName::Google => ProviderSpec {
                name,
                base_url: base(
                    "GOOGLE_GENERATIVE_AI_BASE_URL",
                    "https://generativelanguage.googleapis.com/v1beta",
                )?,
                api_key: required_key("GOOGLE_GENERATIVE_AI_API_KEY")?,
                auth: AuthStyle::Header("x-goog-api-key".into()),
                headers,
                protocol: Protocol::Gemini,
            },
            ProviderName::OpenAi => ProviderSpec {
                name,
                base_url: base("OPENAI_BASE_URL", "https://api.openai.com/v1")?,
                api_key: required_key("OPENAI_API_KEY")?,
                auth: AuthStyle::Bearer,
                headers,
                protocol: Protocol::OpenAi(OpenAiOptions {
                    flavor: OpenAiFlavor::OpenAi,
                    organization: setting
                        .organization
                        .clone()
                        .or_else(|| non_empty(env, "OPENAI_ORGANIZATION")),
                    project: setting
                        .project
                        .clone()
                        .or_else(|| non_empty(env, "OPENAI_PROJECT")),
                }),
            },
            ProviderName::Ollama => {
                let url = base("OLLAMA_BASE_URL", "http://localhost:11434")?;
                ProviderSpec {
                    name,
                    base_url: ollama_openai_base(url),
                    api_key: None,
                    auth: AuthStyle::Bearer,
                    headers,
                    protocol: compatible(),
                }
            }
            ProviderName::Deepseek => ProviderSpec {
                name,
                base_url: base("DEEPSEEK_BASE_URL", "https://api.deepseek.com/v1")?,
                api_key: required_key("DEEPSEEK_API_KEY")?,
                auth: AuthStyle::Bearer,
                headers,
                protocol: compatible(),
            },
            ProviderName::AzureOpenAi => {
                let api_key = required_key("AZURE_API_KEY")?;
                let resource = setting
                    .resource_name
                    .clone()
                    .or_else(|| non_empty(env, "AZURE_RESOURCE_NAME"));
                let explicit = setting
                    .base_url
                    .clone()
                    .filter(|s| !s.trim().is_empty())
                    .or_else(|| non_empty(env, "AZURE_BASE_URL"));
                let raw = match (explicit, resource) {
                    (Some(url), _) => url,
                    (None, Some(resource)) => format!("https://{resource}.openai.azure.com/openai"),
                    (None, None) => {
                        return Err(cfg("AZURE_RESOURCE_NAME or baseUrl is not set".into()));
                    }
                };
                let base_url =
                    parse_base_url(&raw).map_err(|m| cfg(format!("base URL {raw:?}: {m}")))?;
                ProviderSpec {
                    name,
                    base_url,
                    api_key,
                    auth: AuthStyle::Header("api-key".into()),
                    headers,
                    protocol: Protocol::OpenAi(OpenAiOptions {
                        flavor: OpenAiFlavor::Azure {
                            api_version: setting
                                .api_version
                                .clone()
                                .or_else(|| non_empty(env, "AZURE_API_VERSION"))
                                .unwrap_or_else(|| "v1".into()),
                            deployment_urls: setting.use_deployment_based_urls.unwrap_or(false),
                        },
                        organization: None,
                        project: None,
                    }),
                }
            }
            ProviderName::AmazonBedrock | ProviderName::GoogleVertex => {
                return Err(cfg(format!(
                    "provider {name} is not supported by this runtime yet; use anthropic, \
                     google, openai, azure-openai, deepseek or ollama"
                )));
            }
        };
        Ok(spec)
    }
}

fn compatible() -> Protocol {
    Protocol::OpenAi(OpenAiOptions {
        flavor: OpenAiFlavor::Compatible,
        organization: None,
        project: None,
    })
}

/// Ollama's URL as users write it (`http://host:11434`, or `.../api` for its native
/// API) turned into its OpenAI-compatible base (`.../v1`).
fn ollama_openai_base(mut url: Url) -> Url {
    let path = url.path().trim_end_matches('/').to_string();
    let path = path.strip_suffix("/api").unwrap_or(&path);
    if !path.ends_with("/v1") {
        url.set_path(&format!("{path}/v1"));
    } else {
        url.set_path(path);
    }
    url
}

/// A base URL: absolute http(s), no query or fragment, no trailing slash.
pub(crate) fn parse_base_url(raw: &str) -> Result<Url, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "scheme must be http or https, not {}",
            url.scheme()
        ));
    }
    if url.host_str().is_none() {
        return Err("no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; use the API key variable".into());
    }
    let trimmed = url.path().trim_end_matches('/').to_string();
    url.set_path(&trimmed);
    Ok(url)
}

fn extra_headers(setting: &ProviderSetting) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (name, value) in setting.headers.iter().flatten() {
        HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header name {name:?} is not valid"))?;
        // The value is not echoed: custom headers often carry tokens.
        HeaderValue::from_str(value)
            .map_err(|_| format!("header {name:?} has an invalid value"))?;
        out.push((name.clone(), value.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::collections::HashMap;

    fn headers_setting(pairs: &[(&str, &str)]) -> ProviderSetting {
        ProviderSetting {
            headers: Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
            ),
            ..ProviderSetting::default()
        }
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn anthropic_reads_key_and_base_url_from_env() {
        let e = env(&[
            ("ANTHROPIC_API_KEY", "sk-ant-test-1234567890"),
            ("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/anthropic/v1/"),
        ]);
        let spec = ProviderSpec::from_config(ProviderName::Anthropic, None, &e).unwrap();
        assert_eq!(spec.base_url.as_str(), "http://127.0.0.1:9/anthropic/v1");
        assert_eq!(spec.auth, AuthStyle::Header("x-api-key".into()));
        assert_eq!(
            spec.api_key.as_ref().unwrap().expose(),
            "sk-ant-test-1234567890"
        );
        assert!(!format!("{spec:?}").contains("sk-ant-test"));
    }

    #[test]
    fn setting_base_url_overrides_env_and_auth_token_means_bearer() {
        let e = env(&[
            ("ANTHROPIC_AUTH_TOKEN", "tok-1234567890"),
            ("ANTHROPIC_BASE_URL", "https://env.example/v1"),
        ]);
        let setting = ProviderSetting {
            base_url: Some("https://setting.example/v1".into()),
            ..ProviderSetting::default()
        };
        let spec = ProviderSpec::from_config(ProviderName::Anthropic, Some(&setting), &e).unwrap();
        assert_eq!(spec.base_url.as_str(), "https://setting.example/v1");
        assert_eq!(spec.auth, AuthStyle::Bearer);
    }

    #[test]
    fn missing_keys_are_config_errors_naming_the_variable() {
        for (name, var) in [
            (ProviderName::Anthropic, "ANTHROPIC_API_KEY"),
            (ProviderName::OpenAi, "OPENAI_API_KEY"),
            (ProviderName::Google, "GOOGLE_GENERATIVE_AI_API_KEY"),
            (ProviderName::Deepseek, "DEEPSEEK_API_KEY"),
            (ProviderName::AzureOpenAi, "AZURE_API_KEY"),
        ] {
            let err = ProviderSpec::from_config(name, None, &env(&[(var, "")])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{name}: configuration error: {var} is not set")
            );
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn openai_takes_organization_and_project_with_setting_first() {
        let e = env(&[
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_ORGANIZATION", "org-env"),
            ("OPENAI_PROJECT", "proj-env"),
        ]);
        let setting = ProviderSetting {
            organization: Some("org-setting".into()),
            ..ProviderSetting::default()
        };
        let spec = ProviderSpec::from_config(ProviderName::OpenAi, Some(&setting), &e).unwrap();
        assert_eq!(spec.base_url.as_str(), "https://api.openai.com/v1");
        assert_eq!(
            spec.protocol,
            Protocol::OpenAi(OpenAiOptions {
                flavor: OpenAiFlavor::OpenAi,
                organization: Some("org-setting".into()),
                project: Some("proj-env".into()),
            })
        );
    }

    #[test]
    fn ollama_needs_no_key_and_normalises_to_the_v1_endpoint() {
        let cases = [
            (None, "http://localhost:11434/v1"),
            (Some("http://gpu:11434"), "http://gpu:11434/v1"),
            (Some("http://gpu:11434/api"), "http://gpu:11434/v1"),
            (Some("http://gpu:11434/v1/"), "http://gpu:11434/v1"),
        ];
        for (url, want) in cases {
            let e = match url {
                Some(u) => env(&[("OLLAMA_BASE_URL", u)]),
                None => env(&[]),
            };
            let spec = ProviderSpec::from_config(ProviderName::Ollama, None, &e).unwrap();
            assert_eq!(spec.base_url.as_str(), want);
            assert!(spec.api_key.is_none());
        }
    }

    #[test]
    fn azure_builds_the_resource_url_and_needs_resource_or_base_url() {
        let e = env(&[("AZURE_API_KEY", "k"), ("AZURE_RESOURCE_NAME", "res")]);
        let spec = ProviderSpec::from_config(ProviderName::AzureOpenAi, None, &e).unwrap();
        assert_eq!(
            spec.base_url.as_str(),
            "https://res.openai.azure.com/openai"
        );
        assert_eq!(spec.auth, AuthStyle::Header("api-key".into()));
        let err = ProviderSpec::from_config(
            ProviderName::AzureOpenAi,
            None,
            &env(&[("AZURE_API_KEY", "k")]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("AZURE_RESOURCE_NAME or baseUrl is not set")
        );
    }

    #[test]
    fn deepseek_and_google_defaults() {
        let e = env(&[
            ("DEEPSEEK_API_KEY", "k"),
            ("GOOGLE_GENERATIVE_AI_API_KEY", "g"),
        ]);
        let d = ProviderSpec::from_config(ProviderName::Deepseek, None, &e).unwrap();
        assert_eq!(d.base_url.as_str(), "https://api.deepseek.com/v1");
        let g = ProviderSpec::from_config(ProviderName::Google, None, &e).unwrap();
        assert_eq!(
            g.base_url.as_str(),
            "https://generativelanguage.googleapis.com/v1beta"
        );
        assert_eq!(g.auth, AuthStyle::Header("x-goog-api-key".into()));
    }

    #[test]
    fn headers_are_validated_without_echoing_values() {
        let e = env(&[("OPENAI_API_KEY", "k")]);
        let ok = headers_setting(&[("X-Custom", "v")]);
        let spec = ProviderSpec::from_config(ProviderName::OpenAi, Some(&ok), &e).unwrap();
        assert_eq!(
            spec.headers,
            vec![("X-Custom".to_string(), "v".to_string())]
        );
        let bad = headers_setting(&[("X-Token", "secret\nvalue")]);
        let err = ProviderSpec::from_config(ProviderName::OpenAi, Some(&bad), &e).unwrap_err();
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn bad_base_urls_and_unsupported_providers_are_config_errors() {
        let e = env(&[("OPENAI_API_KEY", "k"), ("OPENAI_BASE_URL", "ftp://x")]);
        assert!(ProviderSpec::from_config(ProviderName::OpenAi, None, &e).is_err());
        let e = env(&[
            ("OPENAI_API_KEY", "k"),
            ("OPENAI_BASE_URL", "https://u:p@x/v1"),
        ]);
        assert!(ProviderSpec::from_config(ProviderName::OpenAi, None, &e).is_err());
        for name in [ProviderName::AmazonBedrock, ProviderName::GoogleVertex] {
            let err = ProviderSpec::from_config(name, None, &env(&[])).unwrap_err();
            assert!(err.to_string().contains("not supported"));
        }
    }

    #[test]
    fn env_lookup_can_be_a_closure() {
        let lookup = |name: &str| (name == "OPENAI_API_KEY").then(|| "k".to_string());
        assert!(ProviderSpec::from_config(ProviderName::OpenAi, None, &lookup).is_ok());
    }
}
