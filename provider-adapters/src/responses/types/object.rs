//! The response object and its output items.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Reasoning, Tool};

/// The response object (`"object": "response"`).
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    /// `resp_…`.
    pub id: String,
    /// Always `response`.
    pub object: &'static str,
    /// Seconds since the epoch.
    pub created_at: u64,
    /// `in_progress`, `completed`, `incomplete`, `failed`.
    pub status: &'static str,
    /// The model.
    pub model: String,
    /// The output items.
    pub output: Vec<OutputItem>,
    /// Token counts (absent until known).
    pub usage: Option<Usage>,
    /// Set when `status` is `failed`.
    pub error: Option<ResponseError>,
    /// Set when `status` is `incomplete`.
    pub incomplete_details: Option<IncompleteDetails>,
    /// Echoed from the request.
    pub instructions: Option<String>,
    /// Echoed from the request.
    pub metadata: Map<String, Value>,
    /// Echoed from the request (default true).
    pub parallel_tool_calls: bool,
    /// Echoed from the request.
    pub temperature: Option<f64>,
    /// Echoed from the request.
    pub top_p: Option<f64>,
    /// Echoed from the request.
    pub max_output_tokens: Option<u64>,
    /// Echoed from the request (default `auto`).
    pub tool_choice: Value,
    /// Echoed from the request.
    pub tools: Vec<Tool>,
    /// Always null: translated responses are not stored.
    pub previous_response_id: Option<String>,
    /// Echoed from the request.
    pub reasoning: Option<Reasoning>,
    /// Echoed from the request (default text).
    pub text: Value,
    /// Always `disabled`.
    pub truncation: &'static str,
    /// False: translated responses are not stored.
    pub store: bool,
    /// Echoed from the request.
    pub user: Option<String>,
}

/// One output item.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum OutputItem {
    /// An assistant message.
    #[serde(rename = "message")]
    Message {
        /// `msg_…`.
        id: String,
        /// `in_progress` or `completed`.
        status: &'static str,
        /// Always `assistant`.
        role: &'static str,
        /// Its parts.
        content: Vec<OutputContent>,
    },
    /// A call of a function tool.
    #[serde(rename = "function_call")]
    FunctionCall {
        /// `fc_…`.
        id: String,
        /// The id the client answers with in `function_call_output`.
        call_id: String,
        /// The function.
        name: String,
        /// Its arguments, JSON text.
        arguments: String,
        /// `in_progress` or `completed`.
        status: &'static str,
    },
}

/// One part of an output message.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum OutputContent {
    /// Text.
    #[serde(rename = "output_text")]
    OutputText {
        /// The text.
        text: String,
        /// Always empty here.
        annotations: Vec<Value>,
        /// Always empty here.
        logprobs: Vec<Value>,
    },
    /// A refusal.
    #[serde(rename = "refusal")]
    Refusal {
        /// Why.
        refusal: String,
    },
}

impl OutputContent {
    /// An `output_text` part.
    pub fn text(text: String) -> Self {
        OutputContent::OutputText {
            text,
            annotations: Vec::new(),
            logprobs: Vec::new(),
        }
    }
}

/// `usage`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// `{"cached_tokens"}`.
    pub input_tokens_details: InputTokensDetails,
    /// Completion tokens.
    pub output_tokens: u64,
    /// `{"reasoning_tokens"}`.
    pub output_tokens_details: OutputTokensDetails,
    /// Both.
    pub total_tokens: u64,
}

/// `usage.input_tokens_details`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct InputTokensDetails {
    /// Tokens served from the provider's prompt cache.
    pub cached_tokens: u64,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct OutputTokensDetails {
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
}

/// `error` of a failed response.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseError {
    /// A short code (`server_error`, `upstream_error`, …).
    pub code: String,
    /// What happened.
    pub message: String,
}

/// `incomplete_details`.
#[derive(Debug, Clone, Serialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    pub reason: &'static str,
}
