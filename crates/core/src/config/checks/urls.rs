//! URL rules: https only (loopback http allowed for local endpoints), no credentials.

use url::Url;

use super::Sink;
use crate::config::diagnostic::KeyPath;
use crate::config::model::PerstackConfig;
use crate::loopback::https_problem;

/// Why a URL is not acceptable, or `None` when it is.
pub(crate) fn url_problem(raw: &str, require_https: bool) -> Option<String> {
    let url = match Url::parse(raw) {
        Ok(u) => u,
        Err(e) => return Some(format!("\"{raw}\" is not a valid URL ({e})")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Some(
            "credentials in a URL end up in logs; remove them and pass them in headers or the environment"
                .to_string(),
        );
    }
    if !require_https && matches!(url.scheme(), "http" | "https") {
        return None;
    }
    https_problem(&url, &format!("\"{raw}\""))
}

pub(crate) fn check_top_level(config: &PerstackConfig, root: &KeyPath, sink: &mut Sink<'_>) {
    if let Some(url) = &config.perstack_api_base_url
        && let Some(p) = url_problem(url, true)
    {
        sink.error(&root.field("perstackApiBaseUrl"), p);
    }
    let Some(provider) = &config.provider else {
        return;
    };
    let Some(setting) = &provider.setting else {
        return;
    };
    let setting_path = root.field("provider").field("setting");
    if let Some(url) = &setting.base_url
        && let Some(p) = url_problem(url, provider.provider_name.base_url_requires_https())
    {
        sink.error(&setting_path.field("baseUrl"), p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_rules() {
        assert_eq!(url_problem("https://api.example.com/v1", true), None);
        assert_eq!(url_problem("http://localhost:8080", true), None);
        assert_eq!(url_problem("http://127.0.0.1:1234/x", true), None);
        assert_eq!(url_problem("http://[::1]:1234/x", true), None);
        assert_eq!(url_problem("http://10.0.0.1/x", false), None);
        assert!(url_problem("http://api.example.com", true).is_some());
        assert!(url_problem("ftp://example.com", true).is_some());
        assert!(url_problem("https://user:pw@example.com", true).is_some());
        assert!(url_problem("not a url", true).is_some());
    }
}
