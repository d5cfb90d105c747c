//! Loopback fakes of two providers for the SDK tests, answering from the request (so
//! the order of the SDK's calls does not matter), in the providers' documented wire
//! formats: Anthropic's Messages API (`/v1/messages`, streams, `tool_use`,
//! `/v1/messages/count_tokens`) and OpenAI's Responses API (`/v1/responses`, streams,
//! `function_call`).
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::Json;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

/// Input tokens the fake Anthropic counts for any request.
pub const COUNTED_TOKENS: u64 = 42;

/// Starts both fakes; returns (anthropic, openai) addresses. They live as long as the
/// runtime.
pub async fn start() -> (SocketAddr, SocketAddr) {
    let anthropic = Router::new()
        .route("/v1/messages", post(anthropic_messages))
        .route(
            "/v1/messages/count_tokens",
            post(|| async { Json(json!({"input_tokens": COUNTED_TOKENS})) }),
        );
    let openai = Router::new().route("/v1/responses", post(openai_responses));
    (serve(anthropic).await, serve(openai).await)
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn sse(events: &[(&str, Value)]) -> Response {
    let text: String = events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect();
    ([("content-type", "text/event-stream")], Body::from(text)).into_response()
}

/// The text of the last user turn (a string, or its text / tool_result parts).
fn last_user_text(messages: &Value) -> (String, Option<String>) {
    let last = messages
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    match &last["content"] {
        Value::String(s) => (s.clone(), None),
        Value::Array(parts) => {
            let text = parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<String>();
            let result =
                parts
                    .iter()
                    .find(|p| p["type"] == "tool_result")
                    .map(|p| match &p["content"] {
                        Value::String(s) => s.clone(),
                        other => other
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c["text"].as_str())
                            .collect(),
                    });
            (text, result)
        }
        _ => (String::new(), None),
    }
}

async fn anthropic_messages(Json(req): Json<Value>) -> Response {
    let (text, tool_result) = last_user_text(&req["messages"]);
    let model = req["model"].clone();
    if let Some(result) = tool_result {
        let answer = format!("The tool said: {result}");
        return Json(message(
            &model,
            json!([{"type": "text", "text": answer}]),
            "end_turn",
        ))
        .into_response();
    }
    if req["tools"].as_array().is_some_and(|t| !t.is_empty()) {
        let content = json!([{"type": "tool_use", "id": "toolu_fake_1", "name": "get_weather", "input": {"city": "Paris"}}]);
        return Json(message(&model, content, "tool_use")).into_response();
    }
    let answer = format!("Claude says: {text}");
    if req["stream"] == true {
        let half = answer.len() / 2;
        let (a, b) = answer.split_at(half);
        let mut start = message(&model, json!([]), "end_turn");
        start["stop_reason"] = Value::Null;
        return sse(&[
            (
                "message_start",
                json!({"type": "message_start", "message": start}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": a}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": b}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 5}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ]);
    }
    Json(message(
        &model,
        json!([{"type": "text", "text": answer}]),
        "end_turn",
    ))
    .into_response()
}

fn message(model: &Value, content: Value, stop: &str) -> Value {
    json!({
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    })
}

fn response(model: &Value, status: &str, output: Value) -> Value {
    json!({
        "id": "resp_fake", "object": "response", "created_at": 1_741_476_542u64, "status": status,
        "model": model, "output": output, "parallel_tool_calls": true, "tool_choice": "auto",
        "tools": [], "error": null, "incomplete_details": null, "instructions": null,
        "metadata": {}, "temperature": 1.0, "top_p": 1.0, "text": {"format": {"type": "text"}},
        "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                  "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15},
    })
}

fn output_message(text: &str) -> Value {
    json!({"type": "message", "id": "msg_fake", "status": "completed", "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

async fn openai_responses(Json(req): Json<Value>) -> Response {
    let model = req["model"].clone();
    let items = req["input"].as_array().cloned().unwrap_or_default();
    if let Some(out) = items.iter().find(|i| i["type"] == "function_call_output") {
        let text = format!(
            "The tool said: {}",
            out["output"].as_str().unwrap_or_default()
        );
        return Json(response(
            &model,
            "completed",
            json!([output_message(&text)]),
        ))
        .into_response();
    }
    if req["tools"].as_array().is_some_and(|t| !t.is_empty()) {
        let call = json!({"type": "function_call", "id": "fc_fake", "call_id": "call_fake_1", "name": "get_weather",
                          "arguments": "{\"city\":\"Paris\"}", "status": "completed"});
        return Json(response(&model, "completed", json!([call]))).into_response();
    }
    let input = match &req["input"] {
        Value::String(s) => s.clone(),
        _ => items.iter().filter_map(|i| i["content"].as_str()).collect(),
    };
    let text = format!("Native says: {input}");
    if req["stream"] != true {
        return Json(response(
            &model,
            "completed",
            json!([output_message(&text)]),
        ))
        .into_response();
    }
    let mut item = output_message("");
    item["status"] = "in_progress".into();
    item["content"] = json!([]);
    let part = json!({"type": "output_text", "text": "", "annotations": []});
    let done_part = json!({"type": "output_text", "text": text, "annotations": []});
    let ids = json!({"item_id": "msg_fake", "output_index": 0, "content_index": 0});
    let with = |mut v: Value, extra: Value| {
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    };
    let events = [
        (
            "response.created",
            json!({"response": response(&model, "in_progress", json!([]))}),
        ),
        (
            "response.in_progress",
            json!({"response": response(&model, "in_progress", json!([]))}),
        ),
        (
            "response.output_item.added",
            json!({"output_index": 0, "item": item}),
        ),
        (
            "response.content_part.added",
            with(ids.clone(), json!({"part": part})),
        ),
        (
            "response.output_text.delta",
            with(
                ids.clone(),
                json!({"delta": "Native says: ", "logprobs": []}),
            ),
        ),
        (
            "response.output_text.delta",
            with(ids.clone(), json!({"delta": input, "logprobs": []})),
        ),
        (
            "response.output_text.done",
            with(ids.clone(), json!({"text": text, "logprobs": []})),
        ),
        (
            "response.content_part.done",
            with(ids.clone(), json!({"part": done_part})),
        ),
        (
            "response.output_item.done",
            json!({"output_index": 0, "item": output_message(&text)}),
        ),
        (
            "response.completed",
            json!({"response": response(&model, "completed", json!([output_message(&text)]))}),
        ),
    ];
    let numbered: Vec<(&str, Value)> = events
        .into_iter()
        .enumerate()
        .map(|(n, (name, data))| {
            (
                name,
                with(data, json!({"type": name, "sequence_number": n})),
            )
        })
        .collect();
    sse(&numbered)
}
