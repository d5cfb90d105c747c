//! The request and response translations the adapters use, for callers that want
//! them without sending anything (tests, tools, benchmarks, fuzzing). Each goes
//! through the typed canonical model; bodies are the providers' documented wire
//! formats, as bytes (the `*_value` helpers take and give `serde_json::Value`s).
//! Capabilities are not enforced here; [`ProviderClient`](crate::ProviderClient)
//! does that before encoding.
//!
//! # Example
//!
//! ```
//! use provider_adapters::{translate, Provider};
//!
//! let openai = br#"{"model": "alias", "max_tokens": 64, "messages": [
//!     {"role": "system", "content": "Be brief."},
//!     {"role": "user", "content": "Hi"}
//! ]}"#;
//! let body = translate::request(translate::Client::OpenAi, openai, Provider::Anthropic, "claude-3-5-haiku-latest").unwrap();
//! let anthropic: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(anthropic["system"], "Be brief.");
//! assert_eq!(anthropic["messages"][0]["content"][0]["text"], "Hi");
//! ```

use bytes::Bytes;
use serde_json::Value;

use crate::{formats, providers, Endpoint, Provider, ProviderError};

/// A client format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// OpenAI chat completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

fn endpoint(provider: Provider, model: &str) -> Result<Endpoint, ProviderError> {
    let name = if model.is_empty() { "model" } else { model };
    Endpoint::new(&format!("{}/{name}", provider.as_str())).map_err(ProviderError::bad_request)
}

/// A client request (`body`, in `client`'s format) as `provider`'s request body for
/// `model`.
pub fn request(
    client: Client,
    body: &[u8],
    provider: Provider,
    model: &str,
) -> Result<Bytes, ProviderError> {
    let req = match client {
        Client::OpenAi => formats::openai::request::decode(body)?,
        Client::Anthropic => formats::anthropic::request::decode(body)?,
    };
    providers::adapter(provider).encode(&req, &endpoint(provider, model)?)
}

/// `provider`'s whole answer as the client's (`model` named if the answer names none).
pub fn response(
    provider: Provider,
    body: &[u8],
    client: Client,
    model: &str,
) -> Result<Bytes, ProviderError> {
    let ep = endpoint(provider, model)?;
    let answer = providers::adapter(provider).decode(body, &ep)?;
    Ok(match client {
        Client::OpenAi => formats::openai::response::encode(&answer, model),
        Client::Anthropic => formats::anthropic::response::encode(&answer, model),
    })
}

fn value(r: Result<Bytes, ProviderError>) -> Result<Value, ProviderError> {
    let bytes = r?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ProviderError::bad_gateway(format!("translation made invalid JSON: {e}")))
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// OpenAI chat request → Anthropic Messages request for `model`.
pub fn openai_to_anthropic_request(req: &Value, model: &str) -> Result<Value, ProviderError> {
    value(request(
        Client::OpenAi,
        &bytes(req),
        Provider::Anthropic,
        model,
    ))
}

/// Anthropic Messages response → OpenAI `chat.completion`.
pub fn anthropic_to_openai_response(resp: &Value) -> Result<Value, ProviderError> {
    value(response(
        Provider::Anthropic,
        &bytes(resp),
        Client::OpenAi,
        "",
    ))
}

/// Anthropic Messages request → OpenAI chat request for `model`.
pub fn anthropic_to_openai_request(req: &Value, model: &str) -> Result<Value, ProviderError> {
    value(request(
        Client::Anthropic,
        &bytes(req),
        Provider::OpenAi,
        model,
    ))
}

/// OpenAI `chat.completion` → Anthropic Messages response.
pub fn openai_to_anthropic_response(resp: &Value) -> Result<Value, ProviderError> {
    value(response(
        Provider::OpenAi,
        &bytes(resp),
        Client::Anthropic,
        "",
    ))
}

/// OpenAI chat request → Gemini `generateContent` request for `model`.
pub fn openai_to_gemini_request(req: &Value, model: &str) -> Result<Value, ProviderError> {
    value(request(
        Client::OpenAi,
        &bytes(req),
        Provider::Gemini,
        model,
    ))
}

/// Gemini `generateContent` response → OpenAI `chat.completion` (`model` is used if
/// the response names none).
pub fn gemini_to_openai_response(resp: &Value, model: &str) -> Result<Value, ProviderError> {
    value(response(
        Provider::Gemini,
        &bytes(resp),
        Client::OpenAi,
        model,
    ))
}

/// OpenAI chat request → Ollama `/api/chat` request for `model`.
pub fn openai_to_ollama_request(
    req: &Value,
    model: &str,
    stream: bool,
) -> Result<Value, ProviderError> {
    let mut v = value(request(
        Client::OpenAi,
        &bytes(req),
        Provider::Ollama,
        model,
    ))?;
    v["stream"] = stream.into();
    Ok(v)
}

/// Ollama `/api/chat` response → OpenAI `chat.completion`.
pub fn ollama_to_openai_response(resp: &Value) -> Result<Value, ProviderError> {
    value(response(Provider::Ollama, &bytes(resp), Client::OpenAi, ""))
}
