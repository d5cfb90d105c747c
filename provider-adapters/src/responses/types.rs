//! The OpenAI Responses API wire format, typed: the request (`POST /v1/responses`),
//! the response object with its output items, and the streaming events.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// === the request ===

/// A `POST /v1/responses` body. Fields the translation cannot carry are kept (as
/// `Option`s and `other`) so that they can be refused by name, never dropped.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponsesRequest {
    /// The model name the client asked for.
    pub model: String,
    /// A string (one user message) or a list of items.
    #[serde(default)]
    pub input: Input,
    /// The system (developer) message.
    pub instructions: Option<String>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// `auto`, `none`, `required` or `{"type":"function","name":…}`.
    pub tool_choice: Option<Value>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Most output tokens.
    pub max_output_tokens: Option<u64>,
    /// Stream the answer as events.
    #[serde(default)]
    pub stream: bool,
    /// Whether the model may call tools in parallel.
    pub parallel_tool_calls: Option<bool>,
    /// End-user id.
    pub user: Option<String>,
    /// Echoed back.
    pub metadata: Option<Map<String, Value>>,
    /// `{"format": {"type": "text" | "json_object" | "json_schema", …}}`.
    pub text: Option<TextConfig>,
    /// `{"effort": "low" | "medium" | "high", …}`.
    pub reasoning: Option<Reasoning>,
    /// Whether OpenAI should store the response (nothing is stored when translated).
    pub store: Option<bool>,
    /// Extra output to include; only an empty list can be honoured when translated.
    pub include: Option<Vec<String>>,
    /// `disabled` or `auto`.
    pub truncation: Option<String>,
    /// Everything else: refused by name when translated.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `input`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Input {
    /// One user message.
    Text(String),
    /// Messages, function calls and their outputs.
    Items(Vec<InputItem>),
}

impl Default for Input {
    fn default() -> Self {
        Input::Items(Vec::new())
    }
}

/// One input item. Messages may leave `type` out (`{"role","content"}`), so the
/// kind is read from `type` with `message` as the default.
#[derive(Debug, Clone, Deserialize)]
pub struct InputItem {
    /// `message`, `function_call`, `function_call_output`, … (absent: `message`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A message's role: `user`, `assistant`, `system`, `developer`.
    pub role: Option<String>,
    /// A message's content.
    pub content: Option<Content>,
    /// A function call's (or output's) id that links the two.
    pub call_id: Option<String>,
    /// A function call's name.
    pub name: Option<String>,
    /// A function call's arguments (JSON text).
    pub arguments: Option<String>,
    /// A function call output: text, or content parts.
    pub output: Option<Content>,
}

/// Message content: text, or parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Parts.
    Parts(Vec<ContentPart>),
}

/// One content part.
#[derive(Debug, Clone, Deserialize)]
pub struct ContentPart {
    /// `input_text`, `output_text`, `input_image`, `refusal`, `input_file`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Text of `input_text`/`output_text`.
    pub text: Option<String>,
    /// `input_image`: a URL or a `data:` URL.
    pub image_url: Option<String>,
    /// `input_image`: `low`, `high`, `auto`.
    pub detail: Option<String>,
    /// `refusal`.
    pub refusal: Option<String>,
}

/// A tool definition. Only `function` tools can be translated; built-in tools
/// (`web_search`, `file_search`, …) are refused by name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    /// `function`, `web_search`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The function's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its JSON schema (arbitrary JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Other settings of built-in tools.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `text`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextConfig {
    /// The output format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TextFormat>,
    /// `low`, `medium`, `high` (not carried to chat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<String>,
}

/// `text.format`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextFormat {
    /// `text`, `json_object`, `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `json_schema`: its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `json_schema`: the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// `json_schema`: its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `json_schema`: strict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `reasoning`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reasoning {
    /// `minimal`, `low`, `medium`, `high`.
    #[serde(default)]
    pub effort: Option<String>,
    /// `auto`, `concise`, `detailed` (not carried to chat).
    #[serde(default)]
    pub summary: Option<String>,
}

// === the response ===

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

// === streaming events ===

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

// === the chat side read back ===

/// The parts of an OpenAI `chat.completion` the translation reads.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatCompletion {
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) choices: Vec<ChatChoice>,
    pub(crate) usage: Option<ChatUsage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatChoice {
    pub(crate) message: Option<ChatMessage>,
    pub(crate) delta: Option<ChatMessage>,
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatMessage {
    pub(crate) content: Option<String>,
    pub(crate) refusal: Option<String>,
    #[serde(default)]
    pub(crate) tool_calls: Vec<ChatToolCall>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatToolCall {
    #[serde(default)]
    pub(crate) index: usize,
    pub(crate) id: Option<String>,
    pub(crate) function: Option<ChatFunction>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatFunction {
    pub(crate) name: Option<String>,
    pub(crate) arguments: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct ChatUsage {
    #[serde(default)]
    pub(crate) prompt_tokens: u64,
    #[serde(default)]
    pub(crate) completion_tokens: u64,
    pub(crate) prompt_tokens_details: Option<CachedTokens>,
    pub(crate) completion_tokens_details: Option<ReasoningTokens>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct CachedTokens {
    #[serde(default)]
    pub(crate) cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct ReasoningTokens {
    #[serde(default)]
    pub(crate) reasoning_tokens: u64,
}

impl From<ChatUsage> for Usage {
    fn from(u: ChatUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens,
            input_tokens_details: InputTokensDetails {
                cached_tokens: u.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
            },
            output_tokens: u.completion_tokens,
            output_tokens_details: OutputTokensDetails {
                reasoning_tokens: u
                    .completion_tokens_details
                    .map_or(0, |d| d.reasoning_tokens),
            },
            total_tokens: u.prompt_tokens + u.completion_tokens,
        }
    }
}
