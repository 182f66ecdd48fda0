//! Whether a provider's endpoint is its official host. A config (or a `*_BASE_URL` variable)
//! that points a provider elsewhere sends the API key there, which `initializeRuntime`
//! reports: an agent that could rewrite the config would start here.

use perstack_core::config::ProviderName;

use crate::config::ProviderSpec;

/// `Some(true)` when `host` is `name`'s official API host, `Some(false)` when it is not,
/// `None` when the provider has no single official host (Ollama runs locally by design).
pub fn is_official_host(name: ProviderName, host: &str) -> Option<bool> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let exact = |h: &str| host == h;
    let under = |suffix: &str| {
        host.strip_suffix(suffix)
            .is_some_and(|label| !label.is_empty() && label.ends_with('.'))
    };
    Some(match name {
        ProviderName::Anthropic => exact("api.anthropic.com"),
        ProviderName::OpenAi => exact("api.openai.com"),
        ProviderName::Google => exact("generativelanguage.googleapis.com"),
        ProviderName::Deepseek => exact("api.deepseek.com"),
        ProviderName::AzureOpenAi => under("openai.azure.com"),
        ProviderName::AmazonBedrock => under("amazonaws.com"),
        ProviderName::GoogleVertex => under("googleapis.com"),
        ProviderName::Ollama => return None,
    })
}

/// The endpoint of `spec` without credentials, query or fragment, and whether it is the
/// provider's official host (`None`: no official host, see [`is_official_host`]).
pub fn endpoint(spec: &ProviderSpec) -> (String, Option<bool>) {
    let mut url = spec.base_url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    let official = url.host_str().and_then(|h| is_official_host(spec.name, h));
    (url.to_string(), official)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn official_hosts_and_lookalikes() {
        use ProviderName as P;
        for (name, host, want) in [
            (P::Anthropic, "api.anthropic.com", Some(true)),
            (P::Anthropic, "API.Anthropic.com.", Some(true)),
            (P::Anthropic, "api.anthropic.com.evil.example", Some(false)),
            (P::Anthropic, "evil.example", Some(false)),
            (P::Anthropic, "127.0.0.1", Some(false)),
            (P::OpenAi, "api.openai.com", Some(true)),
            (P::OpenAi, "api.openai.com.attacker.net", Some(false)),
            (P::Google, "generativelanguage.googleapis.com", Some(true)),
            (P::Deepseek, "api.deepseek.com", Some(true)),
            (P::AzureOpenAi, "myres.openai.azure.com", Some(true)),
            (P::AzureOpenAi, "openai.azure.com", Some(false)),
            (P::AzureOpenAi, "evilopenai.azure.com", Some(false)),
            (
                P::AzureOpenAi,
                "myres.openai.azure.com.evil.example",
                Some(false),
            ),
            (P::Ollama, "127.0.0.1", None),
        ] {
            assert_eq!(is_official_host(name, host), want, "{name:?} {host}");
        }
    }
}
