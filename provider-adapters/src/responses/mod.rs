//! The OpenAI Responses API (`POST /v1/responses`): typed wire format, and the bridge
//! to and from chat completions for providers without it, as LiteLLM's
//! responses-to-chat bridge does. OpenAI and Azure deployments get the request as it
//! came ([`native::forward`]); the others get [`request_to_chat`], and their chat
//! answer comes back through [`response_from_chat`] or, streamed, [`ResponsesStream`].
//!
//! ```
//! use provider_adapters::responses::{request_to_chat, ResponsesRequest};
//!
//! let req: ResponsesRequest = serde_json::from_str(
//!     r#"{"model": "claude", "instructions": "Be brief.", "input": "Hi", "max_output_tokens": 64}"#,
//! ).unwrap();
//! let chat = request_to_chat(&req).unwrap();
//! assert_eq!(chat["messages"][0]["role"], "system");
//! assert_eq!(chat["messages"][1]["content"], "Hi");
//! assert_eq!(chat["max_completion_tokens"], 64);
//! ```

mod from_chat;
pub mod native;
mod stream;
mod to_chat;
pub mod types;
mod watch;

pub use self::from_chat::{response_from_chat, Echo};
pub use self::stream::ResponsesStream;
pub use self::to_chat::request_to_chat;
pub use self::types::{Response, ResponsesRequest};

use crate::ProviderError;

/// Reads a Responses request body, with a 400 that says what is wrong.
pub fn parse_request(body: &[u8]) -> Result<ResponsesRequest, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_request(format!("not a valid Responses API request: {e}"))
            .with_code("invalid_request")
    })
}
