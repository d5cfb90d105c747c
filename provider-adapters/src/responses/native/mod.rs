//! Client bodies forwarded unchanged (but for `model`) to provider paths the typed
//! adapters do not translate: the Responses API and legacy completions of OpenAI and
//! Azure, and Anthropic's `count_tokens`. Streams are watched like the adapters'
//! (stall timeout, total deadline) and end with an `error` event if the upstream
//! stalls or breaks.

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http_body_util::Full;
use tokio::time::Instant;

use limits_layer::callbacks::{FinishReasonsCell, OutcomeCell, ResponseFacts, UsageCell};

use super::watch::StreamWatch;
use crate::body::{read_limited, ReadError};
use crate::request::{edit_top_level, json_string, CLIENT_ONLY_FIELDS};
use crate::{Endpoint, HttpClient, Provider, ProviderError};

mod body;

pub use self::body::{NativeBody, Watched};

/// Default Azure `api-version` for the Responses API (the first that has it).
pub const AZURE_RESPONSES_API_VERSION: &str = "2025-03-01-preview";
/// Default Azure `api-version` for legacy completions.
pub const AZURE_COMPLETIONS_API_VERSION: &str = "2024-10-21";

/// A provider path forwarded as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Native {
    /// `POST /v1/responses` (OpenAI, Azure).
    Responses,
    /// `POST /v1/completions` (OpenAI and OpenAI-compatible, Azure).
    Completions,
    /// `POST /v1/messages/count_tokens` (Anthropic).
    CountTokens,
}

impl Native {
    /// Whether `provider` serves this path natively.
    pub fn served_by(self, provider: Provider) -> bool {
        matches!(
            (self, provider),
            (
                Native::Responses | Native::Completions,
                Provider::OpenAi | Provider::Azure
            ) | (Native::CountTokens, Provider::Anthropic)
        )
    }

    fn url(self, ep: &Endpoint) -> Result<String, ProviderError> {
        let base = ep.base();
        let version = |default: &str| {
            ep.api_version
                .clone()
                .unwrap_or_else(|| default.to_string())
        };
        Ok(match (self, ep.provider) {
            (Native::Responses, Provider::OpenAi) => format!("{base}/responses"),
            // Azure's next-generation `/openai/v1/` API takes `v1` (no version), or
            // `preview`/`latest`; dated versions go to the deployment-less path.
            (Native::Responses, Provider::Azure) => match version(AZURE_RESPONSES_API_VERSION)
                .as_str()
            {
                "v1" => format!("{base}/openai/v1/responses"),
                v @ ("preview" | "latest") => format!("{base}/openai/v1/responses?api-version={v}"),
                v => format!("{base}/openai/responses?api-version={v}"),
            },
            (Native::Completions, Provider::OpenAi) => format!("{base}/completions"),
            (Native::Completions, Provider::Azure) => format!(
                "{base}/openai/deployments/{}/completions?api-version={}",
                ep.model,
                version(AZURE_COMPLETIONS_API_VERSION)
            ),
            (Native::CountTokens, Provider::Anthropic) => {
                let root = base.strip_suffix("/v1").unwrap_or(&base);
                format!("{root}/v1/messages/count_tokens")
            }
            (native, provider) => {
                return Err(ProviderError::bad_request(format!(
                    "{native:?} is not served by {} deployments",
                    provider.as_str()
                )))
            }
        })
    }
}

/// Sends `body` to `native` on `ep` with only `model` changed (and the gateway-only
/// fields removed), and returns the upstream's answer as it is: a JSON body, or for
/// `stream`, its events under `ep`'s stream timeouts.
pub async fn forward(
    http: &HttpClient,
    ep: &Endpoint,
    native: Native,
    body: &Bytes,
    stream: bool,
) -> Result<http::Response<NativeBody>, ProviderError> {
    let started = Instant::now();
    let deadline = started + ep.timeout;
    let url: http::Uri = native
        .url(ep)?
        .parse()
        .map_err(|_| ProviderError::bad_gateway("invalid upstream URL; check `api_base`"))?;
    let upstream = edit_top_level(
        body,
        &[("model", &json_string(&ep.model))],
        CLIENT_ONLY_FIELDS,
    )?;
    let mut req = http::Request::new(Full::new(upstream));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = url;
    let headers = req.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in &crate::client::auth_headers(ep)? {
        headers.insert(name, value.clone());
    }
    if stream {
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    }
    let head_deadline = if stream {
        (started + ep.first_token_timeout.unwrap_or(ep.timeout)).min(deadline)
    } else {
        deadline
    };
    let res = match tokio::time::timeout_at(head_deadline, http.request(req)).await {
        Ok(Ok(res)) => res,
        Ok(Err(err)) => {
            let text = chain(&err);
            let label = ep.client_key().label();
            return Err(if err.is_timeout() {
                ProviderError::timeout(format!("could not connect to {label}: {text}"))
            } else {
                ProviderError::bad_gateway(format!("could not reach {label}: {text}"))
            });
        }
        Err(_) => {
            return Err(ProviderError::timeout(format!(
                "upstream {} did not answer within {:?}",
                ep.client_key().label(),
                head_deadline - started
            )))
        }
    };
    answer(res, ep, native, stream, deadline).await
}

/// The upstream's answer for the client: its error, a watched stream, or the whole
/// JSON body read within bounds.
async fn answer(
    res: http::Response<pool_layer::Body>,
    ep: &Endpoint,
    native: Native,
    stream: bool,
    deadline: Instant,
) -> Result<http::Response<NativeBody>, ProviderError> {
    let status = res.status();
    if !status.is_success() {
        let retry_after = res.headers().get(RETRY_AFTER).cloned();
        let body = match tokio::time::timeout_at(deadline, read_limited(res.into_body(), 64 * 1024))
            .await
        {
            Ok(Ok(bytes)) => bytes,
            _ => Bytes::new(),
        };
        let secret = ep.api_key.as_ref().map(|k| k.expose());
        return Err(ProviderError::from_upstream(
            status,
            &body,
            retry_after,
            secret,
        ));
    }
    let is_sse = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut out = if stream && is_sse {
        let body = Watched {
            inner: res.into_body(),
            stall: ep.stream_timeout,
            timer: Box::pin(tokio::time::sleep_until(
                (Instant::now() + ep.stream_timeout).min(deadline),
            )),
            deadline,
            done: false,
            watch: StreamWatch::new(native),
            outcome: OutcomeCell::default(),
            usage: UsageCell::default(),
            finish: FinishReasonsCell::default(),
        };
        let cells = (
            body.outcome.clone(),
            body.usage.clone(),
            body.finish.clone(),
        );
        let mut out = http::Response::new(NativeBody::Stream(Box::new(body)));
        let facts = ResponseFacts::of(out.extensions_mut());
        facts.outcome_cell = Some(cells.0);
        facts.usage_cell = Some(cells.1);
        facts.finish_cell = Some(cells.2);
        out.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        out.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        out
    } else {
        let bytes = match tokio::time::timeout_at(
            deadline,
            read_limited(res.into_body(), ep.max_response_bytes),
        )
        .await
        {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(ReadError::TooLarge { .. })) => {
                return Err(ProviderError::bad_gateway(format!(
                    "upstream response larger than {} bytes",
                    ep.max_response_bytes
                )))
            }
            Ok(Err(ReadError::Body(err))) => {
                return Err(ProviderError::bad_gateway(format!(
                    "upstream response broke: {err}"
                )))
            }
            Err(_) => {
                return Err(ProviderError::timeout(
                    "upstream response did not finish within the request timeout",
                ))
            }
        };
        // Read for the request's event in one pass that builds nothing.
        let (usage, reasons) = super::watch::of_answer(native, &bytes);
        let mut out = http::Response::new(NativeBody::Whole(Some(bytes)));
        out.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if usage.is_some() || !reasons.is_empty() {
            let facts = ResponseFacts::of(out.extensions_mut());
            facts.usage = usage.map(limits_layer::callbacks::Usage::from);
            facts.finish_reasons = (!reasons.is_empty()).then_some(reasons);
        }
        out
    };
    *out.status_mut() = http::StatusCode::OK;
    Ok(out)
}

fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut source = Some(err);
    while let Some(e) = source {
        parts.push(e.to_string());
        source = e.source();
    }
    parts.join(": ")
}

/// An estimate of the input tokens of an Anthropic Messages body, for providers
/// without a token-counting API: the characters of the strings in `system`,
/// `messages` and `tools` (but not `type` tags or the base64 `data` of images and
/// documents), divided by four (OpenAI's rule of thumb for English), at least one.
/// Not a tokenizer: answers carry a header saying so.
pub fn estimate_input_tokens(body: &[u8]) -> Result<u64, ProviderError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_request(format!("request body is not valid JSON: {e}"))
            .with_code("invalid_json")
    })?;
    fn chars(v: &serde_json::Value) -> u64 {
        match v {
            serde_json::Value::String(s) => s.chars().count() as u64,
            serde_json::Value::Array(items) => items.iter().map(chars).sum(),
            serde_json::Value::Object(map) => map
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "type" | "data" | "media_type"))
                .map(|(_, v)| chars(v))
                .sum(),
            _ => 0,
        }
    }
    let total: u64 = ["system", "messages", "tools"]
        .iter()
        .filter_map(|k| value.get(*k))
        .map(chars)
        .sum();
    Ok(total.div_ceil(4).max(1))
}
