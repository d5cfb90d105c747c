//! The streaming events.

use serde::Serialize;

use super::{OutputContent, OutputItem, Response};

/// One streaming event; serialized with its `type` and framed as `event: TYPE`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum StreamEvent<'a> {
    /// First: the response, `in_progress`, no output.
    #[serde(rename = "response.created")]
    Created {
        /// Event counter.
        sequence_number: u64,
        /// The response so far.
        response: &'a Response,
    },
    /// The provider is working.
    #[serde(rename = "response.in_progress")]
    InProgress {
        /// Event counter.
        sequence_number: u64,
        /// The response so far.
        response: &'a Response,
    },
    /// An output item begins.
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        /// Event counter.
        sequence_number: u64,
        /// Its place in `output`.
        output_index: usize,
        /// The item, empty.
        item: &'a OutputItem,
    },
    /// A content part of a message begins.
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        /// Event counter.
        sequence_number: u64,
        /// The message.
        item_id: &'a str,
        /// Its place in `output`.
        output_index: usize,
        /// The part's place in the message.
        content_index: usize,
        /// The part, empty.
        part: &'a OutputContent,
    },
    /// More text.
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        /// Event counter.
        sequence_number: u64,
        /// The message.
        item_id: &'a str,
        /// Its place in `output`.
        output_index: usize,
        /// The part's place in the message.
        content_index: usize,
        /// The new text.
        delta: &'a str,
        /// Always empty here.
        logprobs: [(); 0],
    },
    /// The text is complete.
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        /// Event counter.
        sequence_number: u64,
        /// The message.
        item_id: &'a str,
        /// Its place in `output`.
        output_index: usize,
        /// The part's place in the message.
        content_index: usize,
        /// All of it.
        text: &'a str,
        /// Always empty here.
        logprobs: [(); 0],
    },
    /// A content part is complete.
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        /// Event counter.
        sequence_number: u64,
        /// The message.
        item_id: &'a str,
        /// Its place in `output`.
        output_index: usize,
        /// The part's place in the message.
        content_index: usize,
        /// The whole part.
        part: &'a OutputContent,
    },
    /// More function-call arguments.
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        /// Event counter.
        sequence_number: u64,
        /// The call.
        item_id: &'a str,
        /// Its place in `output`.
        output_index: usize,
        /// The new text.
        delta: &'a str,
    },
    /// The arguments are complete.
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        /// Event counter.
        sequence_number: u64,
        /// The call.
        item_id: &'a str,
        /// Its place in `output`.
        output_index: usize,
        /// The function.
        name: &'a str,
        /// All of them.
        arguments: &'a str,
    },
    /// An output item is complete.
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        /// Event counter.
        sequence_number: u64,
        /// Its place in `output`.
        output_index: usize,
        /// The whole item.
        item: &'a OutputItem,
    },
    /// Last, on success.
    #[serde(rename = "response.completed")]
    Completed {
        /// Event counter.
        sequence_number: u64,
        /// The whole response.
        response: &'a Response,
    },
    /// Last, when the output was cut (`max_output_tokens`, content filter).
    #[serde(rename = "response.incomplete")]
    Incomplete {
        /// Event counter.
        sequence_number: u64,
        /// The whole response.
        response: &'a Response,
    },
    /// Last, when the upstream failed mid-way.
    #[serde(rename = "response.failed")]
    Failed {
        /// Event counter.
        sequence_number: u64,
        /// The response, with `error`.
        response: &'a Response,
    },
}

impl StreamEvent<'_> {
    /// The event's `type`, for the SSE `event:` line.
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::Created { .. } => "response.created",
            StreamEvent::InProgress { .. } => "response.in_progress",
            StreamEvent::OutputItemAdded { .. } => "response.output_item.added",
            StreamEvent::ContentPartAdded { .. } => "response.content_part.added",
            StreamEvent::OutputTextDelta { .. } => "response.output_text.delta",
            StreamEvent::OutputTextDone { .. } => "response.output_text.done",
            StreamEvent::ContentPartDone { .. } => "response.content_part.done",
            StreamEvent::FunctionCallArgumentsDelta { .. } => {
                "response.function_call_arguments.delta"
            }
            StreamEvent::FunctionCallArgumentsDone { .. } => {
                "response.function_call_arguments.done"
            }
            StreamEvent::OutputItemDone { .. } => "response.output_item.done",
            StreamEvent::Completed { .. } => "response.completed",
            StreamEvent::Incomplete { .. } => "response.incomplete",
            StreamEvent::Failed { .. } => "response.failed",
        }
    }
}
