//! The built-in mock provider: an OpenAI-compatible server on an ephemeral loopback
//! port inside the gateway process. `mock/NAME` models are sent to it through the
//! real stack (pool, adapter, streams), so the demo config exercises everything
//! offline. Answers are deterministic.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Largest request the mock reads.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A running mock provider; stops when dropped.
#[derive(Debug)]
pub struct MockProvider {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockProvider {
    /// Starts on `127.0.0.1:0`. `fixed` maps upstream model names to fixed answers
    /// (`mock_response`).
    pub async fn start(fixed: HashMap<String, String>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let fixed = Arc::new(fixed);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let fixed = fixed.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let fixed = fixed.clone();
                        async move { Ok::<_, Infallible>(answer(req, &fixed).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// The base URL to give `mock/…` endpoints.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    *res.status_mut() = status;
    res.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    res
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "code": null}}),
    )
}

async fn answer(req: Request<Incoming>, fixed: &HashMap<String, String>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request too large for the mock provider",
            )
        }
    };
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the mock provider needs a JSON body",
        );
    };
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock")
        .to_string();
    match path.trim_end_matches('/') {
        p if p.ends_with("/chat/completions") => chat(&req, &model, fixed),
        p if p.ends_with("/embeddings") => embeddings(&req, &model),
        _ => error(
            StatusCode::NOT_FOUND,
            "the mock provider serves /chat/completions and /embeddings",
        ),
    }
}

fn last_user_text(req: &Value) -> String {
    let message = req.get("messages").and_then(Value::as_array).and_then(|m| {
        m.iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    });
    let text = match message.and_then(|m| m.get("content")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    };
    text.chars().take(200).collect()
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count().max(1) as u64
}

fn chat(req: &Value, model: &str, fixed: &HashMap<String, String>) -> Response<Body> {
    let prompt = last_user_text(req);
    let content = fixed
        .get(model)
        .cloned()
        .unwrap_or_else(|| format!("This is a mock response from {model}. You said: {prompt}"));
    let usage = json!({"prompt_tokens": words(&prompt), "completion_tokens": words(&content),
                       "total_tokens": words(&prompt) + words(&content)});
    let id = format!("chatcmpl-mock-{:016x}", fingerprint(&(model, &prompt)));
    if req.get("stream").and_then(Value::as_bool) != Some(true) {
        return json_response(
            StatusCode::OK,
            &json!({
                "id": id, "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": usage,
            }),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let mut rest = content.as_str();
    while !rest.is_empty() {
        // One word (with its following space) per chunk, like a token stream.
        let end = rest.find(' ').map_or(rest.len(), |at| at + 1);
        events.push(chunk(json!({"content": &rest[..end]}), Value::Null));
        rest = &rest[end..];
    }
    events.push(chunk(json!({}), json!("stop")));
    if req
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true)
    {
        events.push(
            json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
                           "choices": [], "usage": usage}),
        );
    }
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = events
        .iter()
        .map(|e| Ok(Frame::data(Bytes::from(format!("data: {e}\n\n")))))
        .chain(std::iter::once(Ok(Frame::data(Bytes::from_static(
            b"data: [DONE]\n\n",
        )))))
        .collect();
    let mut res = Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed());
    res.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("text/event-stream"),
    );
    res
}

fn embeddings(req: &Value, model: &str) -> Response<Body> {
    let inputs: Vec<String> = match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect(),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "`input` must be a string or an array",
            )
        }
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| json!({"object": "embedding", "index": i, "embedding": vector(text)}))
        .collect();
    let tokens: u64 = inputs.iter().map(|t| words(t)).sum();
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": data, "model": model,
                                          "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

/// An 8-dimensional unit vector derived from the text.
fn vector(text: &str) -> Vec<f64> {
    let raw: Vec<f64> = (0..8u64)
        .map(|i| (fingerprint(&(i, text)) % 2000) as f64 / 1000.0 - 1.0)
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-9);
    raw.iter().map(|x| (x / norm * 1e6).round() / 1e6).collect()
}

/// A hash that is the same in every process (unlike `RandomState`).
fn fingerprint(value: &impl Hash) -> u64 {
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new_with_keys(0x6d6f636b, 0x67617465);
    value.hash(&mut hasher);
    hasher.finish()
}
