//! The Anthropic Messages format as a client speaks it: requests in, answers and
//! stream events out. (The provider side, Messages requests out and answers in, is
//! in `providers::anthropic`.)

pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod stream;
