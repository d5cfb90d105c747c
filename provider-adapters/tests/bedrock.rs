//! Amazon Bedrock through the real client against a recording loopback upstream that
//! speaks the Converse wire format: SigV4-signed requests, Converse JSON answers,
//! ConverseStream event-stream frames (tool use included), errors and throttling,
//! embeddings, and credentials from STS `AssumeRole`, cached and refreshed.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod support;

use std::time::{Duration, SystemTime};

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use http_body_util::BodyExt;
use provider_adapters::aws::AwsAuth;
use provider_adapters::sse::SseParser;
use provider_adapters::{Api, Endpoint, ProviderClient, Secret};
use serde_json::{json, Value};
use support::{json as reply_json, End, Reply, Upstream};

const MODEL: &str = "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0";

fn keys(region: &str) -> AwsAuth {
    AwsAuth {
        region: region.into(),
        access_key_id: Some("AKIDEXAMPLE".into()),
        secret_access_key: Some(Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
        session_token: Some(Secret::new("session-token-example")),
        ..AwsAuth::default()
    }
}

fn client(model: &str, upstream: &Upstream, aws: AwsAuth) -> ProviderClient {
    let mut ep = Endpoint::new(model).unwrap().with_api_base(upstream.base());
    ep.aws = Some(aws);
    ep.stream_timeout = Duration::from_secs(5);
    ep.timeout = Duration::from_secs(10);
    ep.validate().unwrap();
    ProviderClient::new(ep, pool_layer::Client::builder().build())
}

fn frame(message_type: &str, kind: &str, payload: &Value) -> Vec<u8> {
    let kind_header = if message_type == "exception" {
        ":exception-type"
    } else {
        ":event-type"
    };
    let message = Message::new(payload.to_string().into_bytes())
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String(message_type.to_string().into()),
        ))
        .add_header(Header::new(
            kind_header,
            HeaderValue::String(kind.to_string().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out).unwrap();
    out
}

/// `bytes` cut into chunks of `size`, so frames straddle chunk boundaries.
fn event_stream(bytes: &[u8], size: usize, end: End) -> Reply {
    Reply::Stream {
        content_type: "application/vnd.amazon.eventstream",
        chunks: bytes.chunks(size).map(Bytes::copy_from_slice).collect(),
        end,
    }
}

async fn send(
    client: &ProviderClient,
    body: Value,
) -> Result<(http::StatusCode, Bytes), provider_adapters::ProviderError> {
    let res = client
        .send(Api::ChatCompletions, Bytes::from(body.to_string()))
        .await?;
    let status = res.status();
    Ok((status, res.into_body().collect().await.unwrap().to_bytes()))
}

fn chunks(body: &[u8]) -> Vec<Value> {
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    parser.feed(body, &mut events).unwrap();
    parser.finish(&mut events);
    events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect()
}

const CONVERSE_ANSWER: &str = r#"{
  "output": {"message": {"role": "assistant", "content": [
    {"text": "It is sunny."},
    {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}
  ]}},
  "stopReason": "tool_use",
  "usage": {"inputTokens": 20, "outputTokens": 8, "totalTokens": 28, "cacheReadInputTokens": 4},
  "metrics": {"latencyMs": 310}
}"#;

#[tokio::test]
async fn a_chat_request_goes_to_converse_signed_and_comes_back_openai_shaped() {
    let upstream = Upstream::start(vec![reply_json(200, CONVERSE_ANSWER)]).await;
    let client = client(MODEL, &upstream, keys("us-west-2"));
    let (status, body) = send(&client, json!({
        "model": "claude",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required",
        "max_tokens": 100, "temperature": 0.2, "stop": ["END"]
    })).await.unwrap();
    assert_eq!(status, 200);

    let seen = upstream.seen(0);
    // The model id is one escaped path segment, as AWS's SDKs send it.
    assert_eq!(
        seen.path_and_query,
        "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    );
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && auth.contains("/us-west-2/bedrock/aws4_request"),
        "{auth}"
    );
    assert!(
        auth.contains("x-amz-security-token"),
        "the session token is signed: {auth}"
    );
    assert_eq!(
        seen.headers["x-amz-security-token"],
        "session-token-example"
    );
    assert!(seen.headers.contains_key("x-amz-date"));

    assert_eq!(
        seen.json(),
        json!({
            "messages": [{"role": "user", "content": [
                {"text": "Weather?"},
                {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
            ]}],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "stopSequences": ["END"]},
            "toolConfig": {
                "tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}],
                "toolChoice": {"any": {}}
            }
        })
    );

    let answer: Value = serde_json::from_slice(&body).unwrap();
    let message = &answer["choices"][0]["message"];
    assert_eq!(message["content"], "It is sunny.");
    assert_eq!(message["tool_calls"][0]["id"], "tooluse_1");
    assert_eq!(message["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(
            message["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
        )
        .unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(answer["usage"]["prompt_tokens"], 24);
    assert_eq!(answer["usage"]["completion_tokens"], 8);
}

#[tokio::test]
async fn tool_results_go_back_as_one_user_turn_of_tool_result_blocks() {
    let upstream = Upstream::start(vec![reply_json(200, CONVERSE_ANSWER)]).await;
    let client = client(
        "bedrock/converse/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        &upstream,
        keys("us-east-1"),
    );
    send(&client, json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "t2", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "t2", "content": "rain"}
        ]
    })).await.unwrap();
    let seen = upstream.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse"
    );
    assert_eq!(
        seen.json()["messages"],
        json!([
            {"role": "user", "content": [{"text": "Weather in Paris and Rome?"}]},
            {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "t1", "name": "w", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "t2", "name": "w", "input": {"city": "Rome"}}}
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}},
                {"toolResult": {"toolUseId": "t2", "content": [{"text": "rain"}]}}
            ]}
        ])
    );
}

#[tokio::test]
async fn an_arn_model_id_is_escaped_into_one_path_segment() {
    let upstream = Upstream::start(vec![reply_json(200, CONVERSE_ANSWER)]).await;
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0";
    let client = client(&format!("bedrock/{arn}"), &upstream, keys("us-east-1"));
    send(
        &client,
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap();
    assert_eq!(
        upstream.seen(0).path_and_query,
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.meta.llama3-2-1b-instruct-v1%3A0/converse"
    );
}

fn tool_stream() -> Vec<u8> {
    let mut bytes = Vec::new();
    for (kind, payload) in [
        ("messageStart", json!({"role": "assistant"})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Let me check."}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 0})),
        (
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_9", "name": "get_weather"}}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\":"}}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 1})),
        ("messageStop", json!({"stopReason": "tool_use"})),
        (
            "metadata",
            json!({"usage": {"inputTokens": 30, "outputTokens": 12, "totalTokens": 42}, "metrics": {"latencyMs": 400}}),
        ),
    ] {
        bytes.extend(frame("event", kind, &payload));
    }
    bytes
}

#[tokio::test]
async fn a_converse_stream_with_tool_use_becomes_openai_chunks() {
    let upstream = Upstream::start(vec![event_stream(&tool_stream(), 7, End::Close)]).await;
    let client = client(MODEL, &upstream, keys("us-east-1"));
    let (_, body) = send(
        &client,
        json!({
            "model": "m", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "Weather?"}]
        }),
    )
    .await
    .unwrap();
    assert!(upstream
        .seen(0)
        .path_and_query
        .ends_with("/converse-stream"));
    let chunks = chunks(&body);
    let mut text = String::new();
    let mut arguments = String::new();
    let mut finish = Vec::new();
    let mut usage = None;
    for c in &chunks {
        if let Some(t) = c
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
        {
            text.push_str(t);
        }
        if let Some(call) = c.pointer("/choices/0/delta/tool_calls/0") {
            if let Some(id) = call.get("id").and_then(Value::as_str) {
                assert_eq!(id, "tooluse_9");
                assert_eq!(call["function"]["name"], "get_weather");
            }
            arguments.push_str(
                call.pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            );
        }
        if let Some(f) = c
            .pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
        {
            finish.push(f.to_string());
        }
        if c.get("usage").is_some_and(|u| !u.is_null()) {
            usage = Some(c["usage"].clone());
        }
    }
    assert_eq!(text, "Let me check.");
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(finish, ["tool_calls"]);
    let usage = usage.expect("a usage chunk");
    assert_eq!(
        (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64()
        ),
        (Some(30), Some(12))
    );
    assert!(String::from_utf8_lossy(&body).ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn a_throttling_exception_mid_stream_ends_it_with_an_error_not_a_stop() {
    let mut bytes = Vec::new();
    bytes.extend(frame(
        "event",
        "messageStart",
        &json!({"role": "assistant"}),
    ));
    bytes.extend(frame(
        "event",
        "contentBlockDelta",
        &json!({"contentBlockIndex": 0, "delta": {"text": "Hal"}}),
    ));
    bytes.extend(frame(
        "exception",
        "throttlingException",
        &json!({"message": "Too many tokens, please wait before trying again."}),
    ));
    let upstream = Upstream::start(vec![event_stream(&bytes, 64, End::Close)]).await;
    let client = client(MODEL, &upstream, keys("us-east-1"));
    let (_, body) = send(
        &client,
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap();
    let chunks = chunks(&body);
    let last = chunks.last().unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Too many tokens"),
        "{last}"
    );
    assert_eq!(last["error"]["code"], "throttlingException");
    assert!(chunks.iter().all(|c| c
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str)
        .is_none()));
}

#[tokio::test]
async fn a_stream_cut_inside_a_frame_ends_with_an_error() {
    let bytes = tool_stream();
    let upstream = Upstream::start(vec![event_stream(
        &bytes[..bytes.len() - 5],
        50,
        End::Close,
    )])
    .await;
    let client = client(MODEL, &upstream, keys("us-east-1"));
    let (_, body) = send(
        &client,
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap();
    let last = chunks(&body).pop().unwrap();
    assert!(last.get("error").is_some(), "{last}");
}

#[tokio::test]
async fn bedrock_throttling_is_a_429_with_retry_after_and_the_aws_error_type() {
    let upstream = Upstream::start(vec![Reply::Body {
        status: 429,
        headers: vec![
            ("content-type", "application/json".into()),
            (
                "x-amzn-errortype",
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/".into(),
            ),
        ],
        body: Bytes::from_static(
            br#"{"message":"Too many requests, please wait before trying again."}"#,
        ),
    }])
    .await;
    let client = client(MODEL, &upstream, keys("us-east-1"));
    let err = send(
        &client,
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 429);
    assert_eq!(err.retry_after().unwrap(), "1");
    assert_eq!(err.to_json()["error"]["code"], "ThrottlingException");
    assert!(
        err.message().contains("Too many requests"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn a_validation_error_keeps_its_status_and_message() {
    let upstream = Upstream::start(vec![Reply::Body {
        status: 400,
        headers: vec![(
            "x-amzn-errortype",
            "ValidationException:http://internal.amazon.com/".into(),
        )],
        body: Bytes::from_static(br#"{"message":"The provided model identifier is invalid."}"#),
    }])
    .await;
    let client = client(MODEL, &upstream, keys("us-east-1"));
    let err = send(
        &client,
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(
        err.message(),
        "upstream error: The provided model identifier is invalid."
    );
}

#[tokio::test]
async fn titan_embeddings_go_to_invoke_model() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        r#"{"embedding":[0.1,0.2],"inputTextTokenCount":3}"#,
    )])
    .await;
    let client = client(
        "bedrock/amazon.titan-embed-text-v2:0",
        &upstream,
        keys("us-east-1"),
    );
    let res = client
        .send(
            Api::Embeddings,
            Bytes::from(r#"{"model":"e","input":"hello","dimensions":256}"#),
        )
        .await
        .unwrap();
    let body: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let seen = upstream.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/model/amazon.titan-embed-text-v2%3A0/invoke"
    );
    assert_eq!(
        seen.json(),
        json!({"inputText": "hello", "dimensions": 256})
    );
    assert_eq!(body["data"][0]["embedding"], json!([0.1, 0.2]));
    assert_eq!(body["usage"]["prompt_tokens"], 3);
}

#[tokio::test]
async fn cohere_embeddings_take_every_input_in_one_request() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        r#"{"id":"x","embeddings":[[1.0],[2.0]],"response_type":"embeddings_floats"}"#,
    )])
    .await;
    let client = client(
        "bedrock/cohere.embed-english-v3",
        &upstream,
        keys("us-east-1"),
    );
    let res = client
        .send(
            Api::Embeddings,
            Bytes::from(r#"{"model":"e","input":["a","b"]}"#),
        )
        .await
        .unwrap();
    let body: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        upstream.seen(0).json(),
        json!({"texts": ["a", "b"], "input_type": "search_document"})
    );
    assert_eq!(body["data"][1]["embedding"], json!([2.0]));
}

#[test]
fn an_invoke_model_prefix_is_refused_with_the_converse_spelling() {
    let err = Endpoint::new("bedrock/invoke/anthropic.claude-v2").unwrap_err();
    assert!(
        err.contains("bedrock/converse/anthropic.claude-v2"),
        "{err}"
    );
}

#[test]
fn a_bedrock_endpoint_without_keys_or_region_says_what_is_missing() {
    let mut ep = Endpoint::new(MODEL).unwrap();
    assert!(ep.validate().unwrap_err().contains("aws_region_name"));
    ep.aws = Some(AwsAuth {
        region: "us-east-1".into(),
        ..AwsAuth::default()
    });
    assert!(ep.validate().unwrap_err().contains("aws_access_key_id"));
}

// === AssumeRole ===

fn sts_answer(valid_for: Duration) -> Reply {
    let expires = aws_smithy_types::DateTime::from(SystemTime::now() + valid_for)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    let xml = format!(
        r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIASESSION</AccessKeyId><SecretAccessKey>sessionsecret</SecretAccessKey><SessionToken>sessiontoken</SessionToken><Expiration>{expires}</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>"#
    );
    Reply::Body {
        status: 200,
        headers: vec![("content-type", "text/xml".into())],
        body: Bytes::from(xml),
    }
}

fn role(sts: &Upstream) -> AwsAuth {
    AwsAuth {
        session_token: None,
        role_arn: Some("arn:aws:iam::123456789012:role/bedrock-caller".into()),
        session_name: Some("gw".into()),
        sts_endpoint: Some(sts.base()),
        ..keys("eu-west-1")
    }
}

#[tokio::test]
async fn concurrent_requests_share_one_assume_role_call_and_sign_with_its_session() {
    let sts = Upstream::start(vec![]).await;
    sts.always(Reply::Delayed(
        Duration::from_millis(100),
        Box::new(sts_answer(Duration::from_secs(3600))),
    ));
    let bedrock = Upstream::start(vec![]).await;
    bedrock.always(reply_json(200, CONVERSE_ANSWER));
    let client = client(MODEL, &bedrock, role(&sts));
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let calls = (0..5).map(|_| send(&client, body.clone()));
    for result in futures_join(calls).await {
        result.unwrap();
    }
    assert_eq!(
        sts.count(),
        1,
        "one AssumeRole for five concurrent requests"
    );
    let call = sts.seen(0);
    let form = String::from_utf8_lossy(&call.body).into_owned();
    assert!(form.contains("Action=AssumeRole"), "{form}");
    assert!(
        form.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbedrock-caller"),
        "{form}"
    );
    assert!(form.contains("RoleSessionName=gw"), "{form}");
    let sts_auth = call.headers["authorization"].to_str().unwrap().to_string();
    assert!(
        sts_auth.contains("AKIDEXAMPLE/") && sts_auth.contains("/eu-west-1/sts/aws4_request"),
        "{sts_auth}"
    );
    assert_eq!(bedrock.count(), 5);
    for i in 0..5 {
        let seen = bedrock.seen(i);
        assert!(seen.headers["authorization"]
            .to_str()
            .unwrap()
            .contains("Credential=ASIASESSION/"));
        assert_eq!(seen.headers["x-amz-security-token"], "sessiontoken");
    }
}

#[tokio::test]
async fn a_session_about_to_expire_is_renewed_before_use() {
    let sts = Upstream::start(vec![]).await;
    // Valid for less than the refresh margin: every use renews it.
    sts.always(sts_answer(
        provider_adapters::aws::REFRESH_AHEAD - Duration::from_secs(60),
    ));
    let bedrock = Upstream::start(vec![]).await;
    bedrock.always(reply_json(200, CONVERSE_ANSWER));
    let client = client(MODEL, &bedrock, role(&sts));
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    send(&client, body.clone()).await.unwrap();
    send(&client, body).await.unwrap();
    assert_eq!(sts.count(), 2);
}

#[tokio::test]
async fn a_refused_assume_role_is_a_401_naming_the_role() {
    let sts = Upstream::start(vec![Reply::Body {
        status: 403,
        headers: vec![("content-type", "text/xml".into())],
        body: Bytes::from_static(b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>"),
    }])
    .await;
    let bedrock = Upstream::start(vec![]).await;
    let client = client(MODEL, &bedrock, role(&sts));
    let err = send(
        &client,
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 401);
    assert!(
        err.message().contains("bedrock-caller") && err.message().contains("AccessDenied"),
        "{}",
        err.message()
    );
    assert_eq!(bedrock.count(), 0, "nothing unsigned goes to Bedrock");
}

#[tokio::test(start_paused = true)]
async fn an_sts_endpoint_that_never_answers_times_out() {
    let sts = Upstream::start(vec![Reply::Delayed(
        Duration::from_secs(3600),
        Box::new(sts_answer(Duration::from_secs(3600))),
    )])
    .await;
    let bedrock = Upstream::start(vec![]).await;
    let client = client(MODEL, &bedrock, role(&sts));
    let err = send(
        &client,
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.message().contains("AssumeRole"), "{}", err.message());
}

/// Runs futures concurrently on this task (no extra dependency).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut handles: Vec<Option<_>> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, out) in handles.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}

#[tokio::test]
async fn frames_written_by_another_encoder_decode_to_the_same_tool_call() {
    // The fixture's frames were written by a separate encoder (Python's zlib CRC32),
    // not by the crate that decodes them.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bedrock_tool_stream.eventstream"
    );
    let upstream = Upstream::start(vec![event_stream(
        &std::fs::read(path).unwrap(),
        33,
        End::Close,
    )])
    .await;
    let client = client(MODEL, &upstream, keys("us-east-1"));
    let (_, body) = send(&client, json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "Weather?"}]})).await.unwrap();
    let arguments: String = chunks(&body)
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/tool_calls/0/function/arguments")?
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"location": "Seattle, WA"})
    );
}
