//! The OpenAI Responses API wire format, typed: the request (`POST /v1/responses`),
//! the response object with its output items, and the streaming events; and the
//! chat-completion shapes the bridge reads back.

mod chat;
mod events;
mod object;
mod request;

pub(crate) use self::chat::*;
pub use self::events::StreamEvent;
pub use self::object::{
    IncompleteDetails, InputTokensDetails, OutputContent, OutputItem, OutputTokensDetails,
    Response, ResponseError, Usage,
};
pub use self::request::{
    Content, ContentPart, Input, InputItem, Reasoning, ResponsesRequest, TextConfig, TextFormat,
    Tool,
};
