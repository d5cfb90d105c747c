//! The `POST /v1/responses` request.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
