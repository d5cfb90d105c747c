//! The Responses API bridge against fixtures written from OpenAI's API reference
//! (Responses: create, the response object, streaming events; Chat: the completion
//! and chunk objects).
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use provider_adapters::responses::{
    parse_request, request_to_chat, response_from_chat, Echo, ResponsesStream,
};
use serde_json::{json, Value};

fn request(value: Value) -> provider_adapters::responses::ResponsesRequest {
    parse_request(value.to_string().as_bytes()).unwrap()
}

#[test]
fn a_documented_request_becomes_the_equivalent_chat_request() {
    let req = request(json!({
        "model": "claude",
        "instructions": "You are terse.",
        "input": [
            {"role": "developer", "content": "Use metric units."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is in this image, and the weather?"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"}
            ]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18 C"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "25 C"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Paris 18 C, Rome 25 C."}]}
        ],
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather.", "strict": true,
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "temperature": 0.2, "top_p": 0.9, "max_output_tokens": 100, "parallel_tool_calls": false,
        "user": "u-1", "store": false, "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": true}},
        "stream": true, "metadata": {"k": "v"}, "truncation": "disabled", "include": []
    }));
    let chat = request_to_chat(&req).unwrap();
    assert_eq!(
        chat,
        json!({
            "model": "claude",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "system", "content": "Use metric units."},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this image, and the weather?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
                {"role": "tool", "tool_call_id": "call_2", "content": "25 C"},
                {"role": "assistant", "content": [{"type": "text", "text": "Paris 18 C, Rome 25 C."}]}
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
            "temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 100, "parallel_tool_calls": false,
            "user": "u-1", "reasoning_effort": "low",
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather.",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}}
        })
    );
}

#[test]
fn what_chat_cannot_carry_is_refused_by_name() {
    for (body, name) in [
        (
            json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"model": "m", "input": "x", "background": true}),
            "background",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": ["vs"]}]}),
            "file_search",
        ),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
            "item_reference",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
            "input_file",
        ),
        (
            json!({"model": "m", "input": "x", "include": ["reasoning.encrypted_content"]}),
            "include",
        ),
        (
            json!({"model": "m", "input": "x", "truncation": "auto"}),
            "truncation",
        ),
    ] {
        let err = request_to_chat(&request(body)).unwrap_err();
        assert_eq!(
            (err.status().as_u16(), err.kind()),
            (400, "invalid_request_error")
        );
        assert!(err.message().contains(name), "{name}: {}", err.message());
    }
    assert!(parse_request(b"{\"input\": \"no model\"}").is_err());
}

#[test]
fn a_chat_completion_becomes_a_response_object() {
    let req = request(
        json!({"model": "alias", "input": "hi", "instructions": "Be kind.", "metadata": {"a": "b"}}),
    );
    let chat = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "claude-3-5-haiku",
        "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "Partial",
            "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
                  "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 1}}
    });
    let out = serde_json::to_value(
        response_from_chat(chat.to_string().as_bytes(), &Echo::of(&req)).unwrap(),
    )
    .unwrap();
    assert!(out["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(out["object"], "response");
    assert_eq!(out["status"], "incomplete");
    assert_eq!(
        out["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(out["model"], "claude-3-5-haiku");
    assert_eq!(out["instructions"], "Be kind.");
    assert_eq!(out["metadata"], json!({"a": "b"}));
    assert_eq!(out["output"][0]["type"], "message");
    assert_eq!(
        out["output"][0]["content"],
        json!([{"type": "output_text", "text": "Partial", "annotations": [], "logprobs": []}])
    );
    assert_eq!(out["output"][1]["type"], "function_call");
    assert_eq!(
        (
            out["output"][1]["call_id"].clone(),
            out["output"][1]["name"].clone()
        ),
        (json!("call_9"), json!("f"))
    );
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 7, "input_tokens_details": {"cached_tokens": 2}, "output_tokens": 3,
               "output_tokens_details": {"reasoning_tokens": 1}, "total_tokens": 10})
    );
}

/// A body of the given frames.
struct Frames(VecDeque<Result<Bytes, std::io::Error>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|r| r.map(Frame::data)))
    }
}

async fn events(frames: Vec<Result<&str, &str>>) -> Vec<(String, Value)> {
    let frames = frames
        .into_iter()
        .map(|f| {
            f.map(|s| Bytes::from(s.to_string()))
                .map_err(std::io::Error::other)
        })
        .collect();
    let req = request(json!({"model": "alias", "input": "hi", "stream": true}));
    let stream = ResponsesStream::new(Frames(frames), &Echo::of(&req));
    let text = String::from_utf8(stream.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap()
                .to_string();
            let data: Value =
                serde_json::from_str(e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap())
                    .unwrap();
            assert_eq!(data["type"], name.as_str(), "the event line names the type");
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn a_chat_stream_with_text_and_a_tool_call_becomes_responses_events() {
    // Chunks as OpenAI documents them, split mid-event across frames.
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let all = [
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Let me "}), Value::Null),
        chunk(json!({"content": "check."}), Value::Null),
        chunk(json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}), Value::Null),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}), Value::Null),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}), Value::Null),
        chunk(json!({}), json!("tool_calls")),
        format!("data: {}\n\n", json!({"id": "c", "object": "chat.completion.chunk", "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}})),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat();
    let (a, b) = all.split_at(all.len() / 3);
    let events = events(vec![Ok(a), Ok(b)]).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(events[0].1["response"]["status"], "in_progress");
    assert_eq!(events[6].1["text"], "Let me check.");
    assert_eq!(events[9].1["output_index"], 1);
    assert_eq!(events[9].1["item"]["call_id"], "call_1");
    assert_eq!(events[12].1["arguments"], "{\"city\":\"Paris\"}");
    let done = &events[14].1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], "Let me check.");
    assert_eq!(done["output"][1]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(done["usage"]["total_tokens"], 14);
    let numbers: Vec<u64> = events
        .iter()
        .map(|(_, e)| e["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (0..15).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_stream_that_breaks_or_errors_ends_with_response_failed() {
    let text = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    for frames in [
        vec![Ok(text), Err("connection reset")],
        vec![Ok(text)],
        vec![
            Ok(text),
            Ok("data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n"),
        ],
    ] {
        let events = events(frames).await;
        let (last, data) = events.last().unwrap();
        assert_eq!(last, "response.failed");
        assert_eq!(data["response"]["status"], "failed");
        assert!(data["response"]["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(!events.iter().any(|(n, _)| n == "response.completed"));
    }
}

#[tokio::test]
async fn a_length_finish_ends_with_response_incomplete() {
    let frames = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n";
    let events = events(vec![Ok(frames)]).await;
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "response.incomplete");
    assert_eq!(
        data["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

#[test]
fn token_estimates_are_a_quarter_of_the_characters() {
    use provider_adapters::responses::native::estimate_input_tokens;
    let body = json!({"model": "m", "system": "abcd", "messages": [{"role": "user", "content": "abcdefgh"}]});
    // "abcd" + "user" + "abcdefgh": 16 characters.
    assert_eq!(
        estimate_input_tokens(body.to_string().as_bytes()).unwrap(),
        4
    );
    assert_eq!(
        estimate_input_tokens(b"{\"model\":\"m\",\"messages\":[]}").unwrap(),
        1
    );
    assert_eq!(
        estimate_input_tokens(b"nope")
            .unwrap_err()
            .status()
            .as_u16(),
        400
    );
    // Images' base64 data and type tags are not text: "user" + "abcdefgh" is 12.
    let image = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A".repeat(4000)}},
        {"type": "text", "text": "abcdefgh"}
    ]}]});
    assert_eq!(
        estimate_input_tokens(image.to_string().as_bytes()).unwrap(),
        3
    );
}
