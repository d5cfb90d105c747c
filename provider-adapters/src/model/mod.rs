//! The typed canonical model every translation goes through: a chat request, its
//! answer, and the deltas of a streamed answer. Client formats (OpenAI chat, Anthropic
//! Messages) decode into it and encode from it; provider formats do the same, so a
//! new variant here makes the compiler name every place that must handle it.
//!
//! Strings borrow from the JSON they were read from where they can (`Cow`), and
//! arbitrary JSON (a tool's schema, `cache_control`, extra provider fields) stays raw
//! text ([`RawValue`]), copied once into the upstream body.

mod request;
mod response;

pub use self::request::{
    ChatRequest, Effort, Message, Part, Reasoning, ResponseFormat, Role, Sampling, Source, Tool,
    ToolCall, ToolChoice,
};
pub use self::response::{ChatResponse, Choice, Delta, FinishReason, Thinking, Usage};

pub(crate) use serde_json::value::RawValue;
