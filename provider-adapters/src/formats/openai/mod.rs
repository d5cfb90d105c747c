//! The OpenAI chat-completions format, both ways: requests, answers and stream
//! chunks to and from the canonical model.

pub(crate) mod encode;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod stream;
pub(crate) mod wire;
