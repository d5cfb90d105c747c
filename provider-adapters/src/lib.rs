//! Provider adapters: OpenAI chat-completions and embeddings (and Anthropic Messages)
//! in, each provider's native API out, streams included, all over the one shared
//! client from `pool-layer`.
//!
//! | prefix | API |
//! |---|---|
//! | `openai/` (and `groq/`, `together_ai/`, `mistral/`, `hosted_vllm/`…) | OpenAI, passed through with only `model` changed |
//! | `azure/` | Azure OpenAI: deployment URL, `api-key`, `api-version` |
//! | `anthropic/` | Messages API; native `/v1/messages` requests passed through |
//! | `gemini/` | Google AI Studio `generateContent`, `streamGenerateContent?alt=sse`, embeddings |
//! | `vertex_ai/` | the same Gemini format on Vertex AI URLs with a bearer token, or a service account's ([`google`]) |
//! | `vertex_ai/claude-*` | Anthropic's Messages format on Vertex AI's `rawPredict` / `streamRawPredict` |
//! | `ollama/` | `/api/chat` (NDJSON streams), `/api/embed` |
//! | `bedrock/` | Amazon Bedrock Converse / ConverseStream (event-stream frames), Titan and Cohere embeddings; SigV4-signed ([`aws`]) |
//! | `sagemaker_chat/` | Amazon SageMaker endpoints serving the Messages API (TGI, LMI): InvokeEndpoint, InvokeEndpointWithResponseStream (SSE inside event-stream frames); SigV4-signed |
//! | `watsonx/` | IBM watsonx.ai text chat (`/ml/v1/text/chat`, `chat_stream`), embeddings; IBM Cloud IAM tokens ([`ibm`]) |
//! | `perplexity/`, `cohere/`, `nvidia_nim/`, `huggingface/`, `azure_ai/`, `databricks/`… | the OpenAI-compatible long tail, passed through as OpenAI |
//!
//! Every translation goes through one typed canonical model ([`model`]): the client's
//! format (OpenAI chat, Anthropic Messages) is decoded into it, checked against the
//! provider's capability table ([`capability`]) and encoded by the provider's own
//! file (`src/providers/*.rs`: URL, auth, encode, decode, stream decoder, embeddings,
//! capabilities). A parameter the provider cannot honour is a 400
//! `unsupported_params` naming it, or, with `drop_params` (an [`Endpoint`] setting,
//! or `"drop_params": true` in the body), dropped, logged at debug and reported as a
//! [`DroppedParams`] response extension: never silently ignored. Requests already in
//! the provider's format pass through with only `model` changed, never parsed.
//!
//! Streams are parsed incrementally ([`sse`]) and forwarded as they arrive. A stream
//! that stalls (`stream_timeout`), misses its first token, outlives the request
//! timeout, breaks, or ends without its end marker ends with an error event in the
//! client's format — never with a made-up `finish_reason: "stop"`. Upstream errors
//! become OpenAI-shaped [`ProviderError`]s with the provider's status and message.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::BodyExt;
//! use provider_adapters::{Api, Endpoint, ProviderClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let addr = listener.local_addr()?;
//! # tokio::spawn(async move {
//! #     let (mut s, _) = listener.accept().await.expect("accept");
//! #     let mut buf = vec![0u8; 4096];
//! #     let _ = s.read(&mut buf).await;
//! #     let body = r#"{"model":"llama3.2","message":{"role":"assistant","content":"Hi!"},"done":true,"done_reason":"stop","prompt_eval_count":3,"eval_count":2}"#;
//! #     let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
//! #     let _ = s.write_all(format!("{head}{body}").as_bytes()).await;
//! # });
//! let http = pool_layer::Client::builder().build();
//! let endpoint = Endpoint::new("ollama/llama3.2")?.with_api_base(format!("http://{addr}"));
//! let client = ProviderClient::new(endpoint, http);
//!
//! let request = r#"{"model":"local","messages":[{"role":"user","content":"Hello"}]}"#;
//! let response = client.send(Api::ChatCompletions, Bytes::from(request)).await?;
//! let body = response.into_body().collect().await?.to_bytes();
//! let json: serde_json::Value = serde_json::from_slice(&body)?;
//! assert_eq!(json["choices"][0]["message"]["content"], "Hi!");
//! assert_eq!(json["usage"]["total_tokens"], 5);
//! # Ok(()) }
//! ```
//!
#![doc = include_str!("../CAPABILITIES.md")]

pub mod aws;
pub mod body;
pub mod capability;
mod client;
mod endpoint;
mod error;
mod eventstream;
mod formats;
pub mod google;
pub mod ibm;
pub mod model;
mod plan;
mod providers;
mod renew;
pub mod request;
pub mod responses;
mod scan;
mod shared;
pub mod sse;
mod stream;
pub mod translate;
mod usage;

pub use self::capability::{DroppedParams, Param, Support};
pub use self::client::{forwarded_headers, Api, HttpClient, ProviderClient, ResponseBody};
pub use self::endpoint::{
    Endpoint, Provider, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_STREAM_TIMEOUT, DEFAULT_TIMEOUT,
};
pub use self::error::{ErrorKind, ProviderError};
pub use self::eventstream::DEFAULT_MAX_EVENT_MESSAGE;
pub use self::providers::anthropic::DEFAULT_MAX_TOKENS;
pub use self::providers::azure::DEFAULT_API_VERSION;
pub use self::providers::bedrock::THROTTLE_RETRY_AFTER_S;
pub use self::providers::gemini::THOUGHT_SEPARATOR;
pub use self::providers::vertex_anthropic::VERTEX_ANTHROPIC_VERSION;
pub use self::stream::ChatStream;

/// Re-exported: credentials are [`Secret`]s.
pub use cache_layer::client::Secret;

/// The boxed error type used in bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The README's example, run as a doctest so the README stays true (test builds only).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
