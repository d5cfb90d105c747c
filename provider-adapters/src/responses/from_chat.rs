//! An OpenAI `chat.completion` as a Responses response object.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

use super::types::{
    ChatCompletion, IncompleteDetails, OutputContent, OutputItem, Reasoning, Response,
    ResponsesRequest, Tool, Usage,
};
use crate::ProviderError;

/// What a response echoes from its request; taken before the request is sent.
#[derive(Debug, Clone)]
pub struct Echo {
    model: String,
    instructions: Option<String>,
    metadata: Map<String, Value>,
    parallel_tool_calls: bool,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_output_tokens: Option<u64>,
    tool_choice: Value,
    tools: Vec<Tool>,
    reasoning: Option<Reasoning>,
    text: Value,
    user: Option<String>,
}

impl Echo {
    /// The fields of `req` a response repeats.
    pub fn of(req: &ResponsesRequest) -> Self {
        Self {
            model: req.model.clone(),
            instructions: req.instructions.clone(),
            metadata: req.metadata.clone().unwrap_or_default(),
            parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
            temperature: req.temperature,
            top_p: req.top_p,
            max_output_tokens: req.max_output_tokens,
            tool_choice: req.tool_choice.clone().unwrap_or_else(|| "auto".into()),
            tools: req.tools.clone(),
            reasoning: req.reasoning.clone(),
            text: req
                .text
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok())
                .unwrap_or_else(|| json!({"format": {"type": "text"}})),
            user: req.user.clone(),
        }
    }

    /// An empty response in `status` (the streams start with one).
    pub(crate) fn response(&self, id: String, status: &'static str) -> Response {
        Response {
            id,
            object: "response",
            created_at: crate::shared::now(),
            status,
            model: self.model.clone(),
            output: Vec::new(),
            usage: None,
            error: None,
            incomplete_details: None,
            instructions: self.instructions.clone(),
            metadata: self.metadata.clone(),
            parallel_tool_calls: self.parallel_tool_calls,
            temperature: self.temperature,
            top_p: self.top_p,
            max_output_tokens: self.max_output_tokens,
            tool_choice: self.tool_choice.clone(),
            tools: self.tools.clone(),
            previous_response_id: None,
            reasoning: self.reasoning.clone(),
            text: self.text.clone(),
            truncation: "disabled",
            store: false,
            user: self.user.clone(),
        }
    }
}

/// A fresh id with `prefix` (`resp`, `msg`, `fc`): unique in this process.
pub(crate) fn new_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{:08x}{nanos:08x}{n:06x}", crate::shared::now())
}

/// The status and `incomplete_details` for a chat `finish_reason`.
pub(crate) fn finish(reason: Option<&str>) -> (&'static str, Option<IncompleteDetails>) {
    match reason {
        Some("length") => (
            "incomplete",
            Some(IncompleteDetails {
                reason: "max_output_tokens",
            }),
        ),
        Some("content_filter") => (
            "incomplete",
            Some(IncompleteDetails {
                reason: "content_filter",
            }),
        ),
        _ => ("completed", None),
    }
}

/// The Responses object for a chat completion `body`.
pub fn response_from_chat(body: &[u8], echo: &Echo) -> Result<Response, ProviderError> {
    let chat: ChatCompletion = serde_json::from_slice(body).map_err(|e| {
        ProviderError::bad_gateway(format!(
            "upstream sent a chat completion that cannot be read: {e}"
        ))
    })?;
    let choice = chat.choices.into_iter().next();
    let (status, incomplete) = finish(choice.as_ref().and_then(|c| c.finish_reason.as_deref()));
    let mut response = echo.response(new_id("resp"), status);
    response.incomplete_details = incomplete;
    if let Some(model) = chat.model.filter(|m| !m.is_empty()) {
        response.model = model;
    }
    response.usage = Some(chat.usage.map(Usage::from).unwrap_or_default());
    let Some(message) = choice.and_then(|c| c.message) else {
        return Ok(response);
    };
    let mut content = Vec::new();
    if let Some(text) = message.content.filter(|t| !t.is_empty()) {
        content.push(OutputContent::text(text));
    }
    if let Some(refusal) = message.refusal {
        content.push(OutputContent::Refusal { refusal });
    }
    if !content.is_empty() {
        response.output.push(OutputItem::Message {
            id: new_id("msg"),
            status: "completed",
            role: "assistant",
            content,
        });
    }
    for call in message.tool_calls {
        let function = call.function.unwrap_or(super::types::ChatFunction {
            name: None,
            arguments: None,
        });
        response.output.push(OutputItem::FunctionCall {
            id: new_id("fc"),
            call_id: call.id.unwrap_or_else(|| new_id("call")),
            name: function.name.unwrap_or_default(),
            arguments: function.arguments.unwrap_or_default(),
            status: "completed",
        });
    }
    Ok(response)
}
