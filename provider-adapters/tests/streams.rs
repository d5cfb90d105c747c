//! Streams through the real client: translated chunk by chunk, ended by an error event
//! (never a fake `stop`) when the upstream stalls, breaks or stops early, and released
//! when the client goes away.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use provider_adapters::sse::{SseEvent, SseParser};
use provider_adapters::{Api, Endpoint, ProviderClient, Secret};
use serde_json::Value;
use support::{ndjson, sse, End, Upstream};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn endpoint(model: &str, upstream: &Upstream) -> Endpoint {
    let mut e = Endpoint::new(model)
        .unwrap()
        .with_api_base(upstream.base())
        .with_api_key(Secret::new("k"));
    e.stream_timeout = Duration::from_millis(300);
    e.timeout = Duration::from_secs(10);
    e
}

/// Splits an SSE text into the events a client would see.
fn events(text: &[u8]) -> Vec<SseEvent> {
    let mut parser = SseParser::default();
    let mut out = Vec::new();
    parser.feed(text, &mut out).unwrap();
    parser.finish(&mut out);
    out
}

async fn stream(client: &ProviderClient, api: Api, body: &str) -> Vec<SseEvent> {
    let res = client
        .send(api, Bytes::from(body.to_string()))
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    events(&res.into_body().collect().await.unwrap().to_bytes())
}

fn json(e: &SseEvent) -> Value {
    serde_json::from_str(&e.data).unwrap()
}

/// The concatenated `delta.content` of OpenAI chunks, and the finish reasons seen.
fn text_and_finish(events: &[SseEvent]) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut finish = Vec::new();
    for e in events.iter().filter(|e| e.data != "[DONE]") {
        let v = json(e);
        if let Some(t) = v
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
        {
            text.push_str(t);
        }
        if let Some(f) = v
            .pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
        {
            finish.push(f.to_string());
        }
    }
    (text, finish)
}

const CHAT: &str = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;

fn split_bytes(text: &str, size: usize) -> Vec<String> {
    text.as_bytes()
        .chunks(size)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

#[tokio::test]
async fn openai_streams_pass_through_event_by_event() {
    let text = fixture("openai_stream.sse");
    let parts = split_bytes(&text, 37);
    let upstream = Upstream::start(vec![sse(
        &parts.iter().map(String::as_str).collect::<Vec<_>>(),
        End::Close,
    )])
    .await;
    let client = ProviderClient::new(
        endpoint("openai/gpt-4o-mini", &upstream),
        pool_layer::Client::builder().build(),
    );

    let got = stream(&client, Api::ChatCompletions, CHAT).await;
    assert_eq!(
        got,
        events(text.as_bytes()),
        "same events, whatever the upstream's chunking"
    );
    assert_eq!(got.last().unwrap().data, "[DONE]");
}

#[tokio::test]
async fn anthropic_streams_become_openai_chunks() {
    let upstream = Upstream::start(vec![
        sse(&[&fixture("anthropic_stream.sse")], End::Close),
        sse(
            &split_bytes(&fixture("anthropic_tool_stream.sse"), 50)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            End::Close,
        ),
    ])
    .await;
    let client = ProviderClient::new(
        endpoint("anthropic/claude-3-5-sonnet-20241022", &upstream),
        pool_layer::Client::builder().build(),
    );

    let got = stream(&client, Api::ChatCompletions, CHAT).await;
    assert_eq!(
        text_and_finish(&got),
        ("Hello!".to_string(), vec!["stop".to_string()])
    );
    assert_eq!(got.last().unwrap().data, "[DONE]");
    let usage = got.iter().rev().nth(1).map(json).unwrap();
    assert_eq!(usage["usage"]["total_tokens"], 40);
    assert_eq!(upstream.seen(0).json()["stream"], true);

    let got = stream(&client, Api::ChatCompletions, CHAT).await;
    let (text, finish) = text_and_finish(&got);
    assert_eq!(
        (text.as_str(), finish),
        ("Okay, let me check.", vec!["tool_calls".to_string()])
    );
    let args: String = got
        .iter()
        .filter(|e| e.data != "[DONE]")
        .filter_map(|e| {
            json(e)
                .pointer("/choices/0/delta/tool_calls/0/function/arguments")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    assert_eq!(args, r#"{"location": "San Francisco, CA"}"#);
}

#[tokio::test]
async fn gemini_sse_with_crlf_becomes_openai_chunks() {
    let upstream = Upstream::start(vec![sse(
        &split_bytes(&fixture("gemini_stream.sse"), 13)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        End::Close,
    )])
    .await;
    let client = ProviderClient::new(
        endpoint("gemini/gemini-2.0-flash", &upstream),
        pool_layer::Client::builder().build(),
    );

    let got = stream(&client, Api::ChatCompletions, CHAT).await;
    assert_eq!(
        upstream.seen(0).path_and_query,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        text_and_finish(&got),
        ("The sky is blue.".to_string(), vec!["stop".to_string()])
    );
    assert_eq!(got.last().unwrap().data, "[DONE]");
}

#[tokio::test]
async fn ollama_ndjson_becomes_openai_chunks() {
    let upstream = Upstream::start(vec![ndjson(
        &split_bytes(&fixture("ollama_stream.ndjson"), 29)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        End::Close,
    )])
    .await;
    let client = ProviderClient::new(
        endpoint("ollama/llama3.2", &upstream),
        pool_layer::Client::builder().build(),
    );

    let got = stream(&client, Api::ChatCompletions, CHAT).await;
    assert_eq!(upstream.seen(0).json()["stream"], true);
    assert_eq!(
        text_and_finish(&got),
        ("The sky".to_string(), vec!["stop".to_string()])
    );
}

#[tokio::test]
async fn an_openai_stream_becomes_anthropic_events_for_messages_clients() {
    let upstream = Upstream::start(vec![sse(&[&fixture("openai_stream.sse")], End::Close)]).await;
    let client = ProviderClient::new(
        endpoint("openai/gpt-4o-mini", &upstream),
        pool_layer::Client::builder().build(),
    );
    let body = r#"{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

    let got = stream(&client, Api::Messages, body).await;
    let names: Vec<&str> = got
        .iter()
        .map(|e| e.event.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(json(&got[2])["delta"]["text"], "Hello");
    assert_eq!(json(&got[4])["delta"]["stop_reason"], "end_turn");
    assert_eq!(json(&got[4])["usage"]["output_tokens"], 2);
    assert_eq!(
        upstream.seen(0).json()["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test]
async fn native_anthropic_streams_pass_through_for_messages_clients() {
    let upstream =
        Upstream::start(vec![sse(&[&fixture("anthropic_stream.sse")], End::Close)]).await;
    let client = ProviderClient::new(
        endpoint("anthropic/claude-3-5-sonnet-20241022", &upstream),
        pool_layer::Client::builder().build(),
    );
    let got = stream(
        &client,
        Api::Messages,
        r#"{"model":"c","max_tokens":5,"stream":true,"messages":[]}"#,
    )
    .await;
    assert_eq!(got, events(fixture("anthropic_stream.sse").as_bytes()));
}

/// The last event must be an error, and no chunk may claim the answer finished.
fn assert_ends_with_error(got: &[SseEvent], code: &str) {
    let last = json(got.last().expect("some events"));
    assert_eq!(last["error"]["code"], code, "{got:?}");
    let (_, finish) = text_and_finish(&got[..got.len() - 1]);
    assert!(finish.is_empty(), "no made-up finish_reason: {finish:?}");
    assert!(got.iter().all(|e| e.data != "[DONE]"));
}

#[tokio::test]
async fn a_stall_mid_stream_ends_with_an_error_event() {
    let first = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n";
    let upstream = Upstream::start(vec![sse(&[first], End::Hang)]).await;
    let client = ProviderClient::new(
        endpoint("openai/gpt", &upstream),
        pool_layer::Client::builder().build(),
    );

    let got = stream(&client, Api::ChatCompletions, CHAT).await;
    assert_eq!(text_and_finish(&got).0, "Hel", "what arrived was forwarded");
    assert_ends_with_error(&got, "upstream_timeout");
    assert!(got.last().unwrap().data.contains("stalled"));
}

#[tokio::test]
async fn no_first_token_in_time_ends_with_an_error_event() {
    let upstream = Upstream::start(vec![sse(&[], End::Hang)]).await;
    let mut ep = endpoint("anthropic/claude", &upstream);
    ep.first_token_timeout = Some(Duration::from_millis(200));
    let client = ProviderClient::new(ep, pool_layer::Client::builder().build());

    let got = stream(
        &client,
        Api::Messages,
        r#"{"model":"c","max_tokens":5,"stream":true,"messages":[]}"#,
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event.as_deref(), Some("error"));
    let error = json(&got[0]);
    assert_eq!(error["type"], "error");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("first token"));
}

#[tokio::test]
async fn an_upstream_cut_mid_stream_ends_with_an_error_event() {
    let parts = split_bytes(&fixture("anthropic_stream.sse"), 200);
    let upstream = Upstream::start(vec![sse(
        &parts[..3].iter().map(String::as_str).collect::<Vec<_>>(),
        End::Abort,
    )])
    .await;
    let client = ProviderClient::new(
        endpoint("anthropic/claude", &upstream),
        pool_layer::Client::builder().build(),
    );

    let got = stream(&client, Api::ChatCompletions, CHAT).await;
    assert_ends_with_error(&got, "stream_broken");
}

#[tokio::test]
async fn a_stream_closed_before_its_end_marker_is_reported_as_truncated() {
    let first = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"},\"finish_reason\":null}]}\n\n";
    let upstream = Upstream::start(vec![
        sse(&[first], End::Close),
        ndjson(
            &[r#"{"model":"l","message":{"content":"x"},"done":false}"#],
            End::Close,
        ),
    ])
    .await;
    let http = pool_layer::Client::builder().build();
    let got = stream(
        &ProviderClient::new(endpoint("openai/gpt", &upstream), http.clone()),
        Api::ChatCompletions,
        CHAT,
    )
    .await;
    assert_ends_with_error(&got, "stream_truncated");
    let got = stream(
        &ProviderClient::new(endpoint("ollama/l", &upstream), http),
        Api::ChatCompletions,
        CHAT,
    )
    .await;
    assert_ends_with_error(&got, "stream_truncated");
}

#[tokio::test]
async fn an_upstream_error_event_is_passed_on_as_an_error() {
    let error = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let start = fixture("anthropic_stream.sse")
        .split("event: content_block_start")
        .next()
        .unwrap()
        .to_string();
    let upstream = Upstream::start(vec![sse(&[&start, error], End::Close)]).await;
    let client = ProviderClient::new(
        endpoint("anthropic/claude", &upstream),
        pool_layer::Client::builder().build(),
    );

    let got = stream(&client, Api::ChatCompletions, CHAT).await;
    let last = json(got.last().unwrap());
    assert!(last["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Overloaded"));
    assert!(got.iter().all(|e| e.data != "[DONE]"));
}

#[tokio::test]
async fn a_client_that_goes_away_releases_the_upstream_and_its_connection() {
    let first = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n";
    let upstream = Upstream::start(vec![sse(&[first], End::Hang)]).await;
    let http = pool_layer::Client::builder().build();
    let mut ep = endpoint("openai/gpt", &upstream);
    ep.stream_timeout = Duration::from_secs(60);
    let client = ProviderClient::new(ep, http.clone());

    let res = client
        .send(Api::ChatCompletions, Bytes::from(CHAT))
        .await
        .unwrap();
    let mut body = res.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert!(frame.data_ref().is_some());
    assert_eq!(http.metrics().connections.open_connections, 1);

    drop(body);
    upstream.wait_client_gone(Duration::from_secs(1)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while http.metrics().connections.open_connections != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection slot released within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_invalid_ndjson_line_ends_the_stream_with_an_error_event() {
    let upstream = Upstream::start(vec![ndjson(
        &[
            r#"{"model":"l","message":{"content":"fine"},"done":false}"#,
            "\n{this is not json}\n",
        ],
        End::Close,
    )])
    .await;
    let client = ProviderClient::new(
        endpoint("ollama/l", &upstream),
        pool_layer::Client::builder().build(),
    );
    let got = stream(&client, Api::ChatCompletions, CHAT).await;
    assert_eq!(
        text_and_finish(&got[..got.len() - 1]).0,
        "fine",
        "what was valid was forwarded"
    );
    assert_ends_with_error(&got, "upstream_error");
    assert!(got.last().unwrap().data.contains("invalid stream line"));
}
