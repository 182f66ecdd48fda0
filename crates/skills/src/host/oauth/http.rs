//! The OAuth requests: through the skill's guarded HTTP client (and `perstack proxy` when
//! egress is routed), form-encoded posts and JSON answers.

use perstack_core::egress::Egress;
use serde_json::Value;
use url::Url;

/// Largest metadata or token response read.
const MAX_BODY: usize = 256 * 1024;

/// The HTTP client for metadata and token requests.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    egress: Option<Egress>,
}

/// A token endpoint's answer: its status and JSON body.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
}

impl Http {
    /// Wraps the skill's client.
    pub fn new(client: reqwest::Client, egress: Option<Egress>) -> Http {
        Http { client, egress }
    }

    fn target(&self, url: &Url) -> Result<Url, String> {
        match &self.egress {
            Some(e) => e.route(url).map_err(|e| e.to_string()),
            None => Ok(url.clone()),
        }
    }

    /// GETs a JSON document; `None` when the server has none there (any 4xx).
    pub async fn get_json(&self, url: &Url) -> Result<Option<Value>, String> {
        let response = self
            .client
            .get(self.target(url)?)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        if status.is_client_error() {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        let body = read(response)
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| format!("GET {url}: the answer is not JSON: {e}"))
    }

    /// POSTs a form; `basic` adds HTTP Basic client authentication (RFC 6749 §2.3.1).
    pub async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<Answer, String> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .client
            .post(self.target(url)?)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body);
        if let Some((id, secret)) = basic {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(encode(id), Some(encode(secret)));
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        answer(url, response).await
    }

    /// POSTs a JSON document (dynamic client registration).
    pub async fn post_json(&self, url: &Url, doc: &Value) -> Result<Answer, String> {
        let response = self
            .client
            .post(self.target(url)?)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(doc.to_string())
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        answer(url, response).await
    }
}

async fn answer(url: &Url, response: reqwest::Response) -> Result<Answer, String> {
    let status = response.status().as_u16();
    let body = read(response)
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    Ok(Answer {
        status,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

async fn read(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("the answer is larger than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
