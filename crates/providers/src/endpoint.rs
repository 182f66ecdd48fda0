//! Provider settings from code: an embedder names the endpoint (base URL, key) directly
//! instead of through an environment map.

use std::collections::BTreeMap;

use perstack_core::config::{PerstackConfig, ProviderName, ProviderSetting};

use crate::config::{KeySource, ProviderSpec};
use crate::error::ProviderError;
use crate::provider::{ClientOptions, HttpProvider};
use crate::secret::Secret;

impl ProviderSpec {
    /// The spec for `name` with `setting` (headers, organization, ...), at `base_url` when
    /// given (else the setting's, else the provider's official URL), sending `api_key` when
    /// given. No environment variable is read.
    ///
    /// ```
    /// use perstack_core::config::ProviderName;
    /// use perstack_providers::{ProviderSpec, Secret};
    /// let spec = ProviderSpec::endpoint(
    ///     ProviderName::OpenAi,
    ///     None,
    ///     Some("http://127.0.0.1:8080/v1"),
    ///     Some(Secret::new("sk-test")),
    /// )?;
    /// assert_eq!(spec.base_url.as_str(), "http://127.0.0.1:8080/v1");
    /// # Ok::<(), perstack_providers::ProviderError>(())
    /// ```
    pub fn endpoint(
        name: ProviderName,
        setting: Option<&ProviderSetting>,
        base_url: Option<&str>,
        api_key: Option<Secret>,
    ) -> Result<ProviderSpec, ProviderError> {
        let mut setting = setting.cloned().unwrap_or_default();
        if let Some(url) = base_url {
            setting.base_url = Some(url.to_string());
        }
        let no_env: BTreeMap<String, String> = BTreeMap::new();
        let mut spec =
            ProviderSpec::from_config_with(name, Some(&setting), &no_env, KeySource::HeldByProxy)?;
        spec.api_key = api_key;
        Ok(spec)
    }
}

impl HttpProvider {
    /// The provider `config` selects, with its setting, `maxRetries` and `timeout`, at
    /// `base_url` (when given) with `api_key`: everything from code, nothing from the
    /// environment.
    pub fn from_config_at(
        config: &PerstackConfig,
        base_url: Option<&str>,
        api_key: Option<Secret>,
    ) -> Result<HttpProvider, ProviderError> {
        let setting = config.provider.as_ref().and_then(|t| t.setting.as_ref());
        let spec = ProviderSpec::endpoint(config.provider_name(), setting, base_url, api_key)?;
        HttpProvider::new(spec, ClientOptions::from_config(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthStyle;
    use pretty_assertions::assert_eq;

    #[test]
    fn endpoint_from_code_reads_no_environment() -> Result<(), ProviderError> {
        let spec = ProviderSpec::endpoint(
            ProviderName::Anthropic,
            None,
            Some("https://gateway.example/v1"),
            Some(Secret::new("sk-ant-code")),
        )?;
        assert_eq!(spec.base_url.as_str(), "https://gateway.example/v1");
        assert_eq!(spec.auth, AuthStyle::Header("x-api-key".into()));
        assert_eq!(
            spec.api_key.as_ref().map(Secret::expose),
            Some("sk-ant-code")
        );
        let official = ProviderSpec::endpoint(ProviderName::OpenAi, None, None, None)?;
        assert_eq!(official.base_url.as_str(), "https://api.openai.com/v1");
        assert_eq!(official.api_key, None);
        Ok(())
    }
}
