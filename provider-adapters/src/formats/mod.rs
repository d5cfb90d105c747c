//! The client formats: how a client's request reads into the canonical model and how
//! the canonical answer (whole or streamed) is written back for it.

pub(crate) mod anthropic;
pub(crate) mod openai;
