//! [`ProviderClient`]: one deployment's adapter over the shared client.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::{Request, Response};
use http_body_util::Full;
use limits_layer::callbacks::{FinishReasons, ResponseFacts};
use tokio::time::Instant;

use crate::capability::DroppedParams;
use crate::plan::{self, Plan, Reply, Whole};
use crate::providers::parse_object;
use crate::request::{peek, Peek};
use crate::stream::{ChatStream, ClientFormat, Timeouts};
use crate::{Endpoint, ProviderError};

mod answer;
mod body;
mod prepared;

use self::answer::{json_response, passed_back, read_bounded, transport_error, with_usage};
pub use self::body::ResponseBody;
use self::prepared::Prepared;
pub(crate) use self::prepared::{auth_headers, host_header};
/// The shared HTTP client adapters send through.
pub type HttpClient = pool_layer::Client<Full<Bytes>>;

/// Largest upstream error body read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The client-facing API of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST /v1/chat/completions` (OpenAI format).
    ChatCompletions,
    /// `POST /v1/embeddings` (OpenAI format).
    Embeddings,
    /// `POST /v1/messages` (Anthropic Messages format).
    Messages,
}

/// One deployment's adapter: turns client requests into the provider's native
/// requests, sends them through the shared client, and turns the answers (streams
/// included) back. Cloning is cheap.
#[derive(Clone)]
pub struct ProviderClient {
    endpoint: Arc<Endpoint>,
    http: HttpClient,
    prepared: Arc<Prepared>,
}

impl ProviderClient {
    /// An adapter for `endpoint` over the shared `http` client.
    pub fn new(endpoint: Endpoint, http: HttpClient) -> Self {
        Self {
            prepared: Arc::new(Prepared::new(&endpoint)),
            endpoint: Arc::new(endpoint),
            http,
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Serves one client request (`body` is the client's JSON) and returns the
    /// response in the client's format. Streams come back as soon as the upstream's
    /// headers do, and are forwarded chunk by chunk.
    pub async fn send(
        &self,
        api: Api,
        body: Bytes,
    ) -> Result<Response<ResponseBody>, ProviderError> {
        let peeked = match peek(&body) {
            Ok(peeked) => peeked,
            // An embeddings body may leave `model` out (the endpoint names it); a body
            // that is not JSON is reported by the rewrite that follows.
            Err(_) if api == Api::Embeddings => Peek {
                model: String::new(),
                stream: false,
                client_fields: true,
            },
            Err(err) => return Err(err),
        };
        self.send_peeked(api, body, &peeked).await
    }

    /// [`send`](Self::send) for a caller that already peeked at the body (a router
    /// that read its model), so it is not parsed again for `stream`, and an
    /// OpenAI-format body that needs no change is forwarded without a second parse.
    /// `peeked` must come from [`peek`](crate::request::peek) of this `body`.
    pub async fn send_peeked(
        &self,
        api: Api,
        body: Bytes,
        peeked: &Peek,
    ) -> Result<Response<ResponseBody>, ProviderError> {
        self.send_with_headers(api, body, peeked, None).await
    }

    /// [`send_peeked`](Self::send_peeked) with the client's request headers, of which
    /// the ones the provider documents (`anthropic-beta`, `OpenAI-Organization`…) and
    /// `x-request-id` are passed on. The response carries the provider's rate-limit
    /// headers (`x-ratelimit-*`, `anthropic-ratelimit-*`) and its request id (as
    /// `llm_provider-x-request-id` or `llm_provider-request-id`). A response whose
    /// request had parameters dropped (`drop_params`) carries them as a
    /// [`DroppedParams`] extension.
    pub async fn send_with_headers(
        &self,
        api: Api,
        body: Bytes,
        peeked: &Peek,
        client_headers: Option<&http::HeaderMap>,
    ) -> Result<Response<ResponseBody>, ProviderError> {
        let request_id = client_headers.and_then(|h| h.get(&X_REQUEST_ID));
        self.send_forwarding(api, body, peeked, client_headers, request_id)
            .await
    }

    /// [`send_with_headers`](Self::send_with_headers) with the request id given on its
    /// own (sent as `x-request-id`), for a caller that has it at hand: `headers` then
    /// need hold only the provider headers to pass on (see [`forwarded_headers`]),
    /// usually none, and no map is built for the id.
    pub async fn send_forwarding(
        &self,
        api: Api,
        body: Bytes,
        peeked: &Peek,
        client_headers: Option<&http::HeaderMap>,
        request_id: Option<&HeaderValue>,
    ) -> Result<Response<ResponseBody>, ProviderError> {
        // One async fn for the hot path, its steps plain functions: each nested future
        // would be one more state machine to move and poll per request.
        let started = Instant::now();
        let ep = &*self.endpoint;
        let deadline = started + ep.timeout;
        let stream = peeked.stream && api != Api::Embeddings;
        let Plan {
            body: upstream_body,
            reply,
            dropped,
        } = plan::plan(ep, api, &body, stream, peeked)?;
        let (mut req, signed_body) =
            self.upstream_request(api, stream, upstream_body, client_headers, request_id)?;
        // Signed last: the signature covers every header and the body. Boxed, and only
        // for the endpoints that need it, so the usual send carries no such future.
        let signed = self.prepared.authorizes()
            && Box::pin(
                self.prepared
                    .authorize(&self.http, ep, &mut req, signed_body.as_deref()),
            )
            .await?;
        if !signed && stream {
            req.headers_mut()
                .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        }

        // Until headers: the first-token bound for streams, the total one otherwise.
        let head_deadline = if stream {
            started + first_token(ep)
        } else {
            deadline
        }
        .min(deadline);
        let res = match tokio::time::timeout_at(head_deadline, self.http.request(req)).await {
            Ok(Ok(res)) if res.status().is_success() => res,
            Ok(Ok(res)) => return Err(Box::pin(self.upstream_error(res, deadline)).await),
            Ok(Err(err)) => return Err(transport_error(err, ep)),
            Err(_) => {
                return Err(ProviderError::timeout(format!(
                    "upstream {} did not answer within {:?}",
                    ep.client_key().label(),
                    head_deadline - started
                )))
            }
        };

        let client = if api == Api::Messages {
            ClientFormat::Anthropic
        } else {
            ClientFormat::OpenAi
        };
        let passed = passed_back(res.headers());
        let mut out = match reply {
            Reply::Stream { framing, mode } => {
                let timeouts = Timeouts {
                    first_token: first_token(ep).saturating_sub(started.elapsed()),
                    stall: ep.stream_timeout,
                    deadline,
                };
                stream_answer(ChatStream::new(
                    res.into_body(),
                    framing,
                    mode,
                    client,
                    timeouts,
                ))
            }
            Reply::Whole(whole) => {
                let (parts, body) = res.into_parts();
                let bytes = read_bounded(body, ep.max_response_bytes, deadline).await?;
                self.whole_answer(api, client, whole, parts, bytes)?
            }
        };
        if !dropped.is_empty() {
            out.extensions_mut().insert(DroppedParams(dropped));
        }
        out.headers_mut().extend(passed);
        Ok(out)
    }

    /// The request to the upstream before its per-request authorization: the planned
    /// body, the endpoint's fixed headers, the client headers its provider documents and
    /// the request id; with the body again if the request is to be signed.
    fn upstream_request(
        &self,
        api: Api,
        stream: bool,
        body: Bytes,
        client_headers: Option<&http::HeaderMap>,
        request_id: Option<&HeaderValue>,
    ) -> Result<(Request<Full<Bytes>>, Option<Bytes>), ProviderError> {
        let ep = &*self.endpoint;
        let url = self.prepared.uri(plan::operation(api, stream))?;
        let signed_body = self.prepared.aws.as_ref().map(|_| body.clone());
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = url;
        // `Content-Type`, the auth headers and `Host` (see `Prepared::new`).
        *req.headers_mut() = self
            .prepared
            .headers
            .as_ref()
            .map_err(Clone::clone)?
            .clone();
        let headers = req.headers_mut();
        // Usually none: the caller keeps only the documented ones (see
        // [`forwarded_headers`]), so this costs one check on the hot path.
        if let Some(client_headers) = client_headers.filter(|h| !h.is_empty()) {
            for name in crate::providers::adapter(ep.provider).forwarded_headers() {
                for value in client_headers.get_all(*name) {
                    headers.append(*name, value.clone());
                }
            }
        }
        if let Some(id) = request_id {
            // The caller's request id, for the provider's logs and support.
            headers.insert(X_REQUEST_ID, id.clone());
        }
        Ok((req, signed_body))
    }

    /// The provider's error for an answer with an error status, its body read
    /// (bounded) for the message.
    async fn upstream_error(
        &self,
        res: Response<pool_layer::Body>,
        deadline: Instant,
    ) -> ProviderError {
        let ep = &*self.endpoint;
        let (parts, body) = res.into_parts();
        let body = read_bounded(body, MAX_ERROR_BODY, deadline)
            .await
            .unwrap_or_default();
        let secret = ep.api_key.as_ref().map(|k| k.expose());
        crate::providers::adapter(ep.provider).upstream_error(
            parts.status,
            &parts.headers,
            &body,
            secret,
        )
    }

    /// The client's answer from a whole upstream one (`bytes`), as `whole` planned it:
    /// passed on (checked to be JSON), translated, or reshaped embeddings; with its
    /// usage and finish reasons for the request's event.
    fn whole_answer(
        &self,
        api: Api,
        client: ClientFormat,
        whole: Whole,
        parts: http::response::Parts,
        bytes: Bytes,
    ) -> Result<Response<ResponseBody>, ProviderError> {
        let ep = &*self.endpoint;
        Ok(match whole {
            Whole::Raw => {
                // Passed on without re-serialising, but only if it is JSON: one pass
                // that builds nothing, which reads the usage and finish reasons too.
                let Ok((usage, reasons)) = crate::usage::of_answer(client, &bytes) else {
                    return Err(ProviderError::bad_gateway(
                        "upstream sent a response that is not valid JSON",
                    ));
                };
                with_usage(json_response(parts, bytes), usage, reasons)
            }
            Whole::Translate => {
                let (answer, usage, reasons) = plan::translate_answer(ep, api, &bytes)?;
                with_usage(json_response(parts, answer), usage, reasons)
            }
            Whole::Embeddings(e) => {
                let upstream = parse_object(&bytes, "response", true)?;
                let answer = Bytes::from(e.response(&upstream, &ep.model).to_string());
                // The usage as the client gets it (OpenAI's `usage.prompt_tokens`).
                let usage = crate::usage::of_answer(ClientFormat::OpenAi, &answer)
                    .ok()
                    .and_then(|(usage, _)| usage);
                with_usage(
                    json_response(parts, answer),
                    usage,
                    FinishReasons::default(),
                )
            }
        })
    }
}

/// A stream's response, with the cells the stream fills for the request's event.
fn stream_answer(body: ChatStream<pool_layer::Body>) -> Response<ResponseBody> {
    let (outcome, usage) = (body.outcome_cell(), body.usage_cell());
    let finish = body.finish_cell();
    let mut out = Response::new(ResponseBody::stream(body));
    let facts = ResponseFacts::of(out.extensions_mut());
    facts.outcome_cell = Some(outcome);
    facts.usage_cell = Some(usage);
    facts.finish_cell = Some(finish);
    let headers = out.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out
}

/// The request id header: the caller's (in `client_headers`) is sent upstream as it is.
const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// The client headers some provider documents and gets passed on as they came
/// (`anthropic-beta`, `OpenAI-Organization`, `OpenAI-Project`): a caller keeps these,
/// usually none, for [`ProviderClient::send_with_headers`] instead of all its headers.
pub fn forwarded_headers(from: &http::HeaderMap) -> http::HeaderMap {
    let mut out = http::HeaderMap::new();
    for (name, value) in from {
        // One pass over the client's few headers, comparing names: no hashing.
        if crate::providers::FORWARDED_HEADERS.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

fn first_token(ep: &Endpoint) -> Duration {
    ep.first_token_timeout.unwrap_or(ep.timeout)
}

impl fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}
