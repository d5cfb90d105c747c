//! Golden translation tests: real wire formats in, through the real shared client to a
//! loopback fake upstream that records what it was sent.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use provider_adapters::{Api, Endpoint, ProviderClient, ProviderError, Secret};
use serde_json::{json, Value};
use support::{json as reply_json, Reply, Upstream};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn client(model: &str, upstream: &Upstream, key: &str) -> ProviderClient {
    let endpoint = Endpoint::new(model)
        .unwrap()
        .with_api_base(upstream.base())
        .with_api_key(Secret::new(key));
    ProviderClient::new(endpoint, pool_layer::Client::builder().build())
}

async fn call(
    client: &ProviderClient,
    api: Api,
    body: &str,
) -> Result<(http::HeaderMap, Bytes), ProviderError> {
    let res = client.send(api, Bytes::from(body.to_string())).await?;
    let headers = res.headers().clone();
    Ok((headers, res.into_body().collect().await.unwrap().to_bytes()))
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[tokio::test]
async fn openai_requests_pass_through_with_only_the_model_changed() {
    let upstream =
        Upstream::start(vec![reply_json(200, &fixture("openai_chat_response.json"))]).await;
    let client = client("openai/gpt-4o-mini", &upstream, "sk-test-1");
    let body = r#"{"model":"alias",  "messages":[{"role":"user","content":"hi  there"}],"logit_bias":{"50256":-100}}"#;

    let (_, answer) = call(&client, Api::ChatCompletions, body).await.unwrap();

    let seen = upstream.seen(0);
    assert_eq!(seen.path_and_query, "/chat/completions");
    assert_eq!(seen.headers["authorization"], "Bearer sk-test-1");
    // One Host header, with the (non-default) port, as HTTP/1.1 wants it.
    let port = upstream.base().rsplit(':').next().unwrap().to_string();
    assert_eq!(seen.headers.get_all("host").iter().count(), 1);
    assert_eq!(seen.headers["host"], format!("127.0.0.1:{port}").as_str());
    assert_eq!(
        std::str::from_utf8(&seen.body).unwrap(),
        r#"{"messages":[{"role":"user","content":"hi  there"}],"logit_bias":{"50256":-100},"model":"gpt-4o-mini"}"#
    );
    assert_eq!(
        answer,
        fixture("openai_chat_response.json"),
        "the response is passed on byte for byte"
    );
}

#[tokio::test]
async fn a_body_already_naming_the_upstream_model_is_forwarded_as_sent() {
    let upstream = Upstream::start(vec![
        reply_json(200, &fixture("openai_chat_response.json")),
        reply_json(200, &fixture("openai_chat_response.json")),
    ])
    .await;
    let client = client("openai/gpt-4o-mini", &upstream, "sk-test-1");
    // Odd spacing and member order survive: nothing is re-serialised.
    let body = r#"{ "messages" : [{"role":"user","content":"hi"}], "model":"gpt-4o-mini" }"#;
    call(&client, Api::ChatCompletions, body).await.unwrap();
    assert_eq!(std::str::from_utf8(&upstream.seen(0).body).unwrap(), body);
    // A gateway-only field still forces the rewrite that drops it.
    let with_key = r#"{"model":"gpt-4o-mini","api_key":"sk-client","messages":[]}"#;
    call(&client, Api::ChatCompletions, with_key).await.unwrap();
    assert_eq!(
        std::str::from_utf8(&upstream.seen(1).body).unwrap(),
        r#"{"messages":[],"model":"gpt-4o-mini"}"#
    );
}

#[tokio::test]
async fn azure_uses_the_deployment_url_api_key_header_and_api_version() {
    let upstream =
        Upstream::start(vec![reply_json(200, &fixture("openai_chat_response.json"))]).await;
    let mut endpoint = Endpoint::new("azure/my-gpt4o")
        .unwrap()
        .with_api_base(upstream.base())
        .with_api_key(Secret::new("az-key"));
    endpoint.api_version = Some("2024-06-01".into());
    let client = ProviderClient::new(endpoint, pool_layer::Client::builder().build());

    call(
        &client,
        Api::ChatCompletions,
        r#"{"model":"x","messages":[]}"#,
    )
    .await
    .unwrap();
    let seen = upstream.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-06-01"
    );
    assert_eq!(seen.headers["api-key"], "az-key");
    assert!(seen.headers.get("authorization").is_none());
}

#[tokio::test]
async fn openai_format_becomes_anthropic_messages_and_back() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        &fixture("anthropic_tool_response.json"),
    )])
    .await;
    let client = client(
        "anthropic/claude-3-5-sonnet-20241022",
        &upstream,
        "sk-ant-1",
    );

    let (_, answer) = call(
        &client,
        Api::ChatCompletions,
        &fixture("openai_tool_request.json"),
    )
    .await
    .unwrap();

    let seen = upstream.seen(0);
    assert_eq!(seen.path_and_query, "/v1/messages");
    assert_eq!(seen.headers["x-api-key"], "sk-ant-1");
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(
        seen.json(),
        parse(fixture("anthropic_expected_request.json").as_bytes())
    );

    let answer = parse(&answer);
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["id"], "msg_01Aq9w938a90dw8q");
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    let message = &answer["choices"][0]["message"];
    assert_eq!(
        message["content"],
        "I'll check the current weather in San Francisco."
    );
    assert_eq!(
        message["tool_calls"][0]["id"],
        "toolu_01A09q90qw90lq917835lq9"
    );
    assert_eq!(message["tool_calls"][0]["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(
        message["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        args,
        json!({"location": "San Francisco, CA", "unit": "celsius"})
    );
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 472, "completion_tokens": 89, "total_tokens": 561})
    );
}

#[tokio::test]
async fn native_messages_requests_reach_anthropic_untouched_but_for_the_model() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        &fixture("anthropic_tool_response.json"),
    )])
    .await;
    let client = client(
        "anthropic/claude-3-5-sonnet-20241022",
        &upstream,
        "sk-ant-1",
    );
    let body = r#"{"model":"claude","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":1024}}"#;

    let (_, answer) = call(&client, Api::Messages, body).await.unwrap();
    assert_eq!(
        std::str::from_utf8(&upstream.seen(0).body).unwrap(),
        r#"{"max_tokens":64,"messages":[{"role":"user","content":"hi"}],"thinking":{"type":"enabled","budget_tokens":1024},"model":"claude-3-5-sonnet-20241022"}"#
    );
    assert_eq!(answer, fixture("anthropic_tool_response.json"));
}

#[tokio::test]
async fn messages_requests_to_an_openai_model_are_translated_both_ways() {
    let upstream =
        Upstream::start(vec![reply_json(200, &fixture("openai_chat_response.json"))]).await;
    let client = client("openai/gpt-4o-mini", &upstream, "sk-1");
    let body = json!({
        "model": "claude-alias", "max_tokens": 100, "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "calc", "input": {"expr": "2+2"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "4"}]}
        ],
        "tools": [{"name": "calc", "description": "math", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any"},
        "stop_sequences": ["\n\n"]
    });

    let (_, answer) = call(&client, Api::Messages, &body.to_string())
        .await
        .unwrap();
    assert_eq!(
        upstream.seen(0).json(),
        json!({
            "model": "gpt-4o-mini", "max_tokens": 100, "stop": ["\n\n"],
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "calc", "arguments": "{\"expr\":\"2+2\"}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "4"}
            ],
            "tools": [{"type": "function", "function": {"name": "calc", "description": "math", "parameters": {"type": "object"}}}],
            "tool_choice": "required"
        })
    );
    let answer = parse(&answer);
    assert_eq!(answer["type"], "message");
    assert_eq!(
        answer["content"],
        json!([{"type": "text", "text": "Hello! How can I assist you today?"}])
    );
    assert_eq!(answer["stop_reason"], "end_turn");
    assert_eq!(
        answer["usage"],
        json!({"input_tokens": 19, "output_tokens": 10})
    );
}

#[tokio::test]
async fn openai_format_becomes_gemini_generate_content_and_back() {
    let upstream = Upstream::start(vec![
        reply_json(200, &fixture("gemini_response.json")),
        reply_json(200, &fixture("gemini_function_call_response.json")),
    ])
    .await;
    // The fixture sends `user`, which Gemini has no field for: dropped, as asked.
    let client = ProviderClient::new(
        client("gemini/gemini-2.0-flash", &upstream, "AIza-test")
            .endpoint()
            .clone()
            .with_drop_params(true),
        pool_layer::Client::builder().build(),
    );

    let (_, answer) = call(
        &client,
        Api::ChatCompletions,
        &fixture("openai_tool_request.json"),
    )
    .await
    .unwrap();
    let seen = upstream.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/v1beta/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(seen.headers["x-goog-api-key"], "AIza-test");
    assert_eq!(
        seen.json(),
        parse(fixture("gemini_expected_request.json").as_bytes())
    );
    let answer = parse(&answer);
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello! How can I help you today?"
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    assert_eq!(answer["model"], "gemini-2.0-flash");
    assert_eq!(answer["usage"]["total_tokens"], 13);

    let (_, answer) = call(
        &client,
        Api::ChatCompletions,
        r#"{"model":"g","messages":[{"role":"user","content":"weather?"}]}"#,
    )
    .await
    .unwrap();
    let answer = parse(&answer);
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    // The arguments are Gemini's `args` object as JSON text.
    let args = answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    assert_eq!(parse(args.as_bytes()), json!({"location": "Boston, MA"}));
}

#[tokio::test]
async fn vertex_ai_uses_project_urls_and_a_bearer_token() {
    let upstream = Upstream::start(vec![reply_json(200, &fixture("gemini_response.json"))]).await;
    let mut endpoint = Endpoint::new("vertex_ai/gemini-2.0-flash")
        .unwrap()
        .with_api_base(upstream.base())
        .with_api_key(Secret::new("ya29.token"));
    endpoint.vertex_project = Some("my-proj".into());
    endpoint.vertex_location = Some("europe-west4".into());
    let client = ProviderClient::new(endpoint, pool_layer::Client::builder().build());

    call(
        &client,
        Api::ChatCompletions,
        r#"{"model":"g","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await
    .unwrap();
    let seen = upstream.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(seen.headers["authorization"], "Bearer ya29.token");
}

#[tokio::test]
async fn openai_format_becomes_ollama_chat_with_explicit_stream_false() {
    let upstream =
        Upstream::start(vec![reply_json(200, &fixture("ollama_chat_response.json"))]).await;
    let client = client("ollama/llama3.2", &upstream, "");
    let body = r#"{"model":"local","messages":[{"role":"system","content":"Be nice."},{"role":"user","content":"Hello"}],"max_tokens":64,"temperature":0.5,"stop":["\n"]}"#;

    let (_, answer) = call(&client, Api::ChatCompletions, body).await.unwrap();
    let seen = upstream.seen(0);
    assert_eq!(seen.path_and_query, "/api/chat");
    assert_eq!(
        seen.json(),
        json!({
            "model": "llama3.2", "stream": false,
            "messages": [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hello"}],
            "options": {"temperature": 0.5, "num_predict": 64, "stop": ["\n"]}
        })
    );
    let answer = parse(&answer);
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello! How are you today?"
    );
    assert_eq!(
        answer["usage"],
        json!({"prompt_tokens": 26, "completion_tokens": 298, "total_tokens": 324})
    );
}

#[tokio::test]
async fn embeddings_for_each_provider() {
    let upstream = Upstream::start(vec![
        reply_json(200, &fixture("openai_embeddings_response.json")),
        reply_json(200, &fixture("gemini_embeddings_response.json")),
        reply_json(200, &fixture("ollama_embed_response.json")),
    ])
    .await;
    let body = r#"{"model":"e","input":["first","second"]}"#;

    let (_, openai) = call(
        &client("openai/text-embedding-3-small", &upstream, "k"),
        Api::Embeddings,
        body,
    )
    .await
    .unwrap();
    assert_eq!(openai, fixture("openai_embeddings_response.json"));
    assert_eq!(upstream.seen(0).path_and_query, "/embeddings");

    let (_, gemini) = call(
        &client("gemini/text-embedding-004", &upstream, "k"),
        Api::Embeddings,
        body,
    )
    .await
    .unwrap();
    assert_eq!(
        upstream.seen(1).path_and_query,
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    assert_eq!(
        upstream.seen(1).json()["requests"][1],
        json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": "second"}]}})
    );
    let gemini = parse(&gemini);
    assert_eq!(gemini["data"][1]["embedding"], json!([0.02, 0.01, -0.03]));
    assert_eq!(gemini["data"][1]["index"], 1);

    let (_, ollama) = call(
        &client("ollama/all-minilm", &upstream, ""),
        Api::Embeddings,
        body,
    )
    .await
    .unwrap();
    assert_eq!(
        upstream.seen(2).json(),
        json!({"model": "all-minilm", "input": ["first", "second"]})
    );
    assert_eq!(parse(&ollama)["usage"]["prompt_tokens"], 8);

    let err = call(
        &client("anthropic/claude", &upstream, "k"),
        Api::Embeddings,
        body,
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn upstream_errors_keep_status_message_and_retry_after() {
    let upstream = Upstream::start(vec![
        Reply::Body {
            status: 429,
            headers: vec![("retry-after", "7".into())],
            body: Bytes::from(r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#),
        },
        reply_json(401, r#"{"error":{"message":"Incorrect API key provided: sk-secret-999. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","code":"invalid_api_key"}}"#),
        reply_json(503, r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#),
    ])
    .await;
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

    let err = call(
        &client("anthropic/claude", &upstream, "k"),
        Api::ChatCompletions,
        body,
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.kind()),
        (429, "rate_limit_error")
    );
    assert_eq!(err.retry_after().unwrap(), "7");
    assert!(err.message().contains("per-minute rate limit"));
    assert!(err.is_retryable());

    let err = call(
        &client("openai/gpt", &upstream, "sk-secret-999"),
        Api::ChatCompletions,
        body,
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 401);
    let shown = format!("{err} {err:?} {}", err.to_json());
    assert!(!shown.contains("sk-secret-999"), "{shown}");
    assert!(shown.contains("invalid_api_key"));

    let err = call(
        &client("gemini/gemini-2.0-flash", &upstream, "k"),
        Api::ChatCompletions,
        body,
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 503);
    assert_eq!(err.to_json()["error"]["code"], "UNAVAILABLE");
}

#[tokio::test]
async fn transport_failures_are_502_and_slow_upstreams_504() {
    // A port nobody listens on: bind, note it, close.
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let endpoint = Endpoint::new("openai/gpt")
        .unwrap()
        .with_api_base(format!("http://{closed}"));
    let client = ProviderClient::new(endpoint, pool_layer::Client::builder().build());
    let err = call(
        &client,
        Api::ChatCompletions,
        r#"{"model":"m","messages":[]}"#,
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 502, "{err}");
    assert!(err.message().contains(&format!("http://{closed}")), "{err}");
    // Decided by kind, not by text; the transport error is its source.
    assert_eq!(err.error_kind(), provider_adapters::ErrorKind::Unreachable);
    assert!(std::error::Error::source(&err).is_some());

    let upstream = Upstream::start(vec![support::sse(&[], support::End::Hang)]).await;
    let mut endpoint = Endpoint::new("openai/gpt")
        .unwrap()
        .with_api_base(upstream.base());
    endpoint.timeout = Duration::from_millis(300);
    let client = ProviderClient::new(endpoint, pool_layer::Client::builder().build());
    let err = call(
        &client,
        Api::ChatCompletions,
        r#"{"model":"m","messages":[]}"#,
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 504, "{err}");

    let err = call(&client, Api::ChatCompletions, r#"{"model":"m","#)
        .await
        .unwrap_err();
    assert_eq!(
        (
            err.status().as_u16(),
            err.to_json()["error"]["code"].as_str()
        ),
        (400, Some("invalid_json"))
    );
}

#[tokio::test]
async fn only_the_answer_comes_back_not_the_upstreams_headers_or_status() {
    let upstream = Upstream::start(vec![
        Reply::Body {
            status: 201,
            headers: vec![
                ("content-type", "application/json; charset=utf-8".into()),
                ("set-cookie", "session=upstream-secret".into()),
                ("x-upstream-trace", "abc".into()),
            ],
            body: Bytes::from(fixture("openai_chat_response.json")),
        },
        Reply::Body {
            status: 200,
            headers: vec![("set-cookie", "session=upstream-secret".into())],
            body: Bytes::from(fixture("anthropic_tool_response.json")),
        },
    ])
    .await;
    let openai = client("openai/gpt-4o-mini", &upstream, "sk");
    let anthropic = client("anthropic/claude-3-5-sonnet-20241022", &upstream, "sk");
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

    for (client, what) in [(&openai, "passed through"), (&anthropic, "translated")] {
        let res = client
            .send(Api::ChatCompletions, Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{what}");
        let names: Vec<&str> = res.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type"], "{what}");
        assert_eq!(res.headers()["content-type"], "application/json", "{what}");
        let answer = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(parse(&answer)["object"], "chat.completion", "{what}");
    }
}
