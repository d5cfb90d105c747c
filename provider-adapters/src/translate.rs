//! The request and response translations the adapters use, for callers that want
//! them without sending anything (tests, tools, benchmarks). All take and return
//! `serde_json::Value`s in the providers' documented wire formats.
//!
//! # Example
//!
//! ```
//! use provider_adapters::translate;
//! use serde_json::json;
//!
//! let openai = json!({"model": "alias", "max_tokens": 64, "messages": [
//!     {"role": "system", "content": "Be brief."},
//!     {"role": "user", "content": "Hi"},
//! ]});
//! let anthropic = translate::openai_to_anthropic_request(&openai, "claude-3-5-haiku-latest").unwrap();
//! assert_eq!(anthropic["system"], "Be brief.");
//! assert_eq!(anthropic["messages"][0]["content"][0]["text"], "Hi");
//! ```

use serde_json::Value;

use crate::providers::{anthropic, gemini, ollama};
use crate::ProviderError;

/// OpenAI chat request → Anthropic Messages request for `model`.
pub fn openai_to_anthropic_request(req: &Value, model: &str) -> Result<Value, ProviderError> {
    anthropic::request_from_openai(req, model)
}

/// Anthropic Messages response → OpenAI `chat.completion`.
pub fn anthropic_to_openai_response(resp: &Value) -> Value {
    anthropic::response_to_openai(resp)
}

/// Anthropic Messages request → OpenAI chat request.
pub fn anthropic_to_openai_request(req: &Value) -> Result<Value, ProviderError> {
    anthropic::request_to_openai(req)
}

/// OpenAI `chat.completion` → Anthropic Messages response.
pub fn openai_to_anthropic_response(resp: &Value) -> Value {
    anthropic::response_from_openai(resp)
}

/// OpenAI chat request → Gemini `generateContent` request.
pub fn openai_to_gemini_request(req: &Value) -> Result<Value, ProviderError> {
    gemini::request_from_openai(req)
}

/// Gemini `generateContent` response → OpenAI `chat.completion` (`model` is used if
/// the response names none).
pub fn gemini_to_openai_response(resp: &Value, model: &str) -> Value {
    gemini::response_to_openai(resp, model)
}

/// OpenAI chat request → Ollama `/api/chat` request for `model`.
pub fn openai_to_ollama_request(
    req: &Value,
    model: &str,
    stream: bool,
) -> Result<Value, ProviderError> {
    ollama::request_from_openai(req, model, stream)
}

/// Ollama `/api/chat` response → OpenAI `chat.completion`.
pub fn ollama_to_openai_response(resp: &Value) -> Value {
    ollama::response_to_openai(resp)
}
