//! What every request to one endpoint carries, worked out once per client: its URLs,
//! its fixed headers (content type, authentication, `Host`), and the credentials that
//! authorize each request as it is sent (a token, or a SigV4 signature).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::Request;
use http_body_util::Full;

use super::HttpClient;
use crate::aws::{sign_request, CredentialCache};
use crate::google::TokenCache;
use crate::ibm::IamTokenCache;
use crate::providers::Operation;
use crate::{Endpoint, Provider, ProviderError};

/// What every request to the endpoint shares, worked out once per client (the client
/// cache keeps clients, so this is once per deployment, not per request).
pub(super) struct Prepared {
    pub(super) headers: Result<http::HeaderMap, ProviderError>,
    /// AWS keys of a SigV4-signed provider (Bedrock, SageMaker): each request is
    /// signed as sent.
    pub(super) aws: Option<CredentialCache>,
    /// A service account's token (Vertex AI), added to each request as sent.
    google: Option<TokenCache>,
    /// An IBM Cloud API key's IAM token (watsonx.ai), added to each request as sent;
    /// shared with every deployment of the same key.
    ibm: Option<Arc<IamTokenCache>>,
    chat: Result<http::Uri, ProviderError>,
    chat_stream: Result<http::Uri, ProviderError>,
    embeddings: Result<http::Uri, ProviderError>,
}

impl Prepared {
    pub(super) fn new(ep: &Endpoint) -> Self {
        let uri = |op| {
            ep.url(op)?
                .parse::<http::Uri>()
                .map_err(|_| ProviderError::bad_gateway("invalid upstream URL; check `api_base`"))
        };
        let chat = uri(Operation::Chat { stream: false });
        let mut headers = auth_headers(ep);
        // Every request's fixed headers in one map, cloned per request: a clone copies
        // them, where inserting them anew would hash each one again.
        if let Ok(headers) = &mut headers {
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
        }
        // The Host header, worked out once here rather than by hyper-util per request
        // (which formats `host:port` anew for every request to a non-default port).
        if let (Ok(headers), Ok(uri)) = (&mut headers, &chat) {
            if let Some(host) = host_header(uri) {
                headers.insert(http::header::HOST, host);
            }
        }
        let aws = match ep.provider {
            Provider::Bedrock | Provider::SagemakerChat => ep.aws.clone().map(CredentialCache::new),
            _ => None,
        };
        let google = match ep.provider {
            Provider::VertexAi | Provider::VertexAiAnthropic => {
                ep.vertex_credentials.clone().map(TokenCache::new)
            }
            _ => None,
        };
        let ibm = match (&ep.provider, &ep.api_key) {
            // A static token, if given, is sent as it is (see the adapter's `auth`).
            (Provider::Watsonx, Some(key))
                if ep.watsonx.as_ref().is_none_or(|w| w.token.is_none()) =>
            {
                let url = ep
                    .watsonx
                    .as_ref()
                    .map_or(crate::ibm::IAM_URL, |w| w.iam_url());
                Some(IamTokenCache::shared(key.clone(), url))
            }
            _ => None,
        };
        Self {
            headers,
            aws,
            google,
            ibm,
            chat,
            chat_stream: uri(Operation::Chat { stream: true }),
            embeddings: uri(Operation::Embeddings),
        }
    }

    pub(super) fn uri(&self, op: Operation) -> Result<http::Uri, ProviderError> {
        let uri = match op {
            Operation::Chat { stream: false } => &self.chat,
            Operation::Chat { stream: true } => &self.chat_stream,
            Operation::Embeddings => &self.embeddings,
        };
        uri.clone()
    }

    /// Whether requests to the endpoint need [`authorize`](Self::authorize): a token
    /// fetched or a signature made per request. Most endpoints have a fixed key in
    /// [`headers`](Self::headers) and skip it, and with it its future (~1.5 KB, which
    /// every future around the send would otherwise carry and move).
    pub(super) fn authorizes(&self) -> bool {
        self.google.is_some() || self.ibm.is_some() || self.aws.is_some()
    }

    /// Adds what is worked out per request: a service account's token (Vertex AI), or
    /// a SigV4 signature over every header and `body` (Bedrock). Returns whether the
    /// request was signed (then no header may be added after).
    pub(super) async fn authorize(
        &self,
        http: &HttpClient,
        ep: &Endpoint,
        req: &mut Request<Full<Bytes>>,
        body: Option<&[u8]>,
    ) -> Result<bool, ProviderError> {
        if let Some(google) = &self.google {
            let label = format!("vertex_ai deployment `{}`", ep.model);
            let token = google.get(http, &label).await?;
            let value = crate::providers::sensitive(&format!("Bearer {}", token.expose()))?;
            req.headers_mut().insert(http::header::AUTHORIZATION, value);
        }
        if let Some(ibm) = &self.ibm {
            let label = format!("watsonx deployment `{}`", ep.model);
            let token = ibm.get(http, &label).await?;
            let value = crate::providers::sensitive(&format!("Bearer {}", token.expose()))?;
            req.headers_mut().insert(http::header::AUTHORIZATION, value);
        }
        let (Some(aws), Some(body)) = (&self.aws, body) else {
            return Ok(false);
        };
        let creds = aws.get(http).await?;
        let region = aws.auth().region.as_str();
        let service = match ep.provider {
            Provider::SagemakerChat => "sagemaker",
            _ => "bedrock",
        };
        sign_request(
            req,
            body,
            &creds,
            region,
            service,
            std::time::SystemTime::now(),
        )?;
        Ok(true)
    }
}

/// `host` or `host:port` (port only when it is not the scheme's default), as HTTP/1.1
/// clients send it.
pub(crate) fn host_header(uri: &http::Uri) -> Option<HeaderValue> {
    let host = uri.host()?;
    let default = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    let value = match uri.port_u16() {
        Some(port) if port != default => HeaderValue::try_from(format!("{host}:{port}")),
        _ => HeaderValue::try_from(host),
    };
    value.ok()
}

/// The headers that authenticate (and version) every request to `ep`.
pub(crate) fn auth_headers(ep: &Endpoint) -> Result<http::HeaderMap, ProviderError> {
    let mut map = http::HeaderMap::new();
    crate::providers::adapter(ep.provider).auth(ep, &mut map)?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_header_names_the_port_only_when_it_is_not_the_default() {
        let host = |uri: &str| host_header(&uri.parse().unwrap_or_default());
        assert_eq!(
            host("https://api.openai.com/v1/chat/completions"),
            Some(HeaderValue::from_static("api.openai.com"))
        );
        assert_eq!(
            host("https://api.openai.com:443/v1"),
            Some(HeaderValue::from_static("api.openai.com"))
        );
        assert_eq!(
            host("http://localhost:11434/api/chat"),
            Some(HeaderValue::from_static("localhost:11434"))
        );
        assert_eq!(
            host("https://h:80/"),
            Some(HeaderValue::from_static("h:80"))
        );
        assert_eq!(host("/relative"), None);
    }
}
