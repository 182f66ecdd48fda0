//! The `WWW-Authenticate: Bearer ...` challenge of a 401 or 403 (RFC 6750 §3, RFC 9728 §5.1).

/// What a server's Bearer challenge tells the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// `resource_metadata`: where the protected resource metadata is.
    pub resource_metadata: Option<String>,
    /// `scope`: the scopes the request needs, space-separated.
    pub scope: Option<String>,
    /// `error`, e.g. `insufficient_scope`.
    pub error: Option<String>,
}

impl Challenge {
    /// Parses the header's auth-params (quoted or token values); other schemes' params and
    /// malformed pieces are ignored.
    pub fn parse(header: &str) -> Challenge {
        let mut out = Challenge::default();
        let rest = header.trim();
        let rest = match rest.split_once(char::is_whitespace) {
            Some((scheme, params)) if scheme.eq_ignore_ascii_case("bearer") => params,
            _ if rest.eq_ignore_ascii_case("bearer") => "",
            _ => rest,
        };
        for (key, value) in params(rest) {
            match key.to_ascii_lowercase().as_str() {
                "resource_metadata" => out.resource_metadata = Some(value),
                "scope" => out.scope = Some(value),
                "error" => out.error = Some(value),
                _ => {}
            }
        }
        out
    }

    /// The challenged scopes, one per item.
    pub fn scopes(&self) -> Vec<String> {
        split_scopes(self.scope.as_deref().unwrap_or(""))
    }
}

/// A space-separated scope string as a list.
pub(crate) fn split_scopes(scope: &str) -> Vec<String> {
    scope.split_whitespace().map(str::to_string).collect()
}

fn params(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let Some(eq) = s.find('=') else { break };
        let key = s[..eq].trim().to_string();
        s = s[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = s.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            v.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => v.push(c),
                }
            }
            value = v;
            s = &quoted[end.min(quoted.len())..];
        } else {
            let end = s.find(',').unwrap_or(s.len());
            value = s[..end].trim().to_string();
            s = &s[end..];
        }
        if !key.is_empty() && !key.contains(char::is_whitespace) {
            out.push((key, value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn quoted_params_with_commas_and_escapes() {
        let c = Challenge::parse(
            r#"Bearer error="insufficient_scope", scope="mcp:basic mcp:write", resource_metadata="http://h/.well-known/oauth-protected-resource/mcp", error_description="a, \"b\"""#,
        );
        assert_eq!(
            c,
            Challenge {
                resource_metadata: Some("http://h/.well-known/oauth-protected-resource/mcp".into()),
                scope: Some("mcp:basic mcp:write".into()),
                error: Some("insufficient_scope".into()),
            }
        );
        assert_eq!(c.scopes(), vec!["mcp:basic", "mcp:write"]);
    }

    #[test]
    fn token_values_bare_scheme_and_garbage() {
        assert_eq!(
            Challenge::parse("Bearer error=invalid_token"),
            Challenge {
                error: Some("invalid_token".into()),
                ..Challenge::default()
            }
        );
        assert_eq!(Challenge::parse("Bearer"), Challenge::default());
        assert_eq!(Challenge::parse("=,,\"unterminated"), Challenge::default());
        assert_eq!(
            Challenge::parse(r#"Bearer scope="unterminated"#).scope,
            Some("unterminated".into())
        );
    }
}
