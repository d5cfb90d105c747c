//! Amazon SageMaker endpoints serving the Messages API (`sagemaker_chat/`), against a
//! recording loopback upstream in SageMaker runtime's wire format: InvokeEndpoint
//! SigV4-signed for `sagemaker`, InvokeEndpointWithResponseStream's `PayloadPart`
//! event-stream frames carrying the model's SSE stream cut anywhere (inside a UTF-8
//! character too), model errors (424) and throttling in the OpenAI error contract,
//! and the legacy `sagemaker/` prefix refused with the way out.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod support;

use std::time::Duration;

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use http_body_util::BodyExt;
use provider_adapters::aws::AwsAuth;
use provider_adapters::{Api, Endpoint, ProviderClient, Secret};
use serde_json::{json, Value};
use support::{json as reply_json, End, Reply, Upstream};

const MODEL: &str = "sagemaker_chat/my-tgi-endpoint";

/// TGI's Messages API answer.
const ANSWER: &str = r#"{"object":"chat.completion","id":"","created":1732000000,"model":"tgi","system_fingerprint":"2.4.0-sha-0ff6ff6","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from SageMaker"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}"#;

fn client(upstream: &Upstream) -> ProviderClient {
    let mut ep = Endpoint::new(MODEL).unwrap().with_api_base(upstream.base());
    ep.aws = Some(AwsAuth {
        region: "us-west-2".into(),
        access_key_id: Some("AKIDEXAMPLE".into()),
        secret_access_key: Some(Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")),
        ..AwsAuth::default()
    });
    ep.timeout = Duration::from_secs(10);
    ep.stream_timeout = Duration::from_secs(5);
    ep.validate().unwrap();
    ProviderClient::new(ep, pool_layer::Client::builder().build())
}

/// One event-stream message as SageMaker sends it.
fn frame(message_type: &str, kind: &str, payload: &[u8]) -> Vec<u8> {
    let kind_header = if message_type == "exception" {
        ":exception-type"
    } else {
        ":event-type"
    };
    let content_type = if message_type == "exception" {
        "application/json"
    } else {
        "application/octet-stream"
    };
    let message = Message::new(payload.to_vec())
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
            HeaderValue::String(content_type.into()),
        ));
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out).unwrap();
    out
}

fn event_stream(bytes: &[u8], size: usize) -> Reply {
    Reply::Stream {
        content_type: "application/vnd.amazon.eventstream",
        chunks: bytes.chunks(size).map(Bytes::copy_from_slice).collect(),
        end: End::Close,
    }
}

/// TGI's SSE stream for "Héllo" with usage, then `[DONE]`.
fn tgi_sse() -> String {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"object":"chat.completion.chunk","id":"","created":1732000000,"model":"tgi",
                   "system_fingerprint":"2.4.0-sha-0ff6ff6",
                   "choices":[{"index":0,"delta":delta,"logprobs":null,"finish_reason":finish}]})
        )
    };
    let mut out = String::new();
    out += &chunk(json!({"role":"assistant","content":"Hé"}), Value::Null);
    out += &chunk(json!({"role":"assistant","content":"llo"}), Value::Null);
    out += &chunk(json!({"role":"assistant","content":""}), json!("stop"));
    out += "data: [DONE]\n\n";
    out
}

/// `text` in `PayloadPart`s of `part` bytes each: cut anywhere, as SageMaker may.
fn payload_parts(text: &str, part: usize) -> Vec<u8> {
    text.as_bytes()
        .chunks(part)
        .flat_map(|p| frame("event", "PayloadPart", p))
        .collect()
}

async fn send(
    client: &ProviderClient,
    body: &str,
) -> Result<Bytes, provider_adapters::ProviderError> {
    let res = client
        .send(Api::ChatCompletions, Bytes::from(body.to_string()))
        .await?;
    Ok(res.into_body().collect().await.unwrap().to_bytes())
}

const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":20}"#;
const STREAM: &str = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test]
async fn a_chat_request_goes_to_invoke_endpoint_signed_for_sagemaker() {
    let upstream = Upstream::start(vec![reply_json(200, ANSWER)]).await;
    let body = send(&client(&upstream), CHAT).await.unwrap();
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from SageMaker"
    );
    assert_eq!(answer["usage"]["total_tokens"], 13);
    let seen = upstream.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/endpoints/my-tgi-endpoint/invocations"
    );
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && auth.contains("/us-west-2/sagemaker/aws4_request"),
        "{auth}"
    );
    assert!(seen.headers.contains_key("x-amz-date"));
    let sent = seen.json();
    assert_eq!(sent["messages"], json!([{"role": "user", "content": "hi"}]));
    assert_eq!(sent["max_tokens"], 20);
}

#[tokio::test]
async fn payload_parts_cut_anywhere_become_the_models_chunks() {
    let sse = tgi_sse();
    // Every part size up to 9 bytes: some cut inside `é` (two bytes in UTF-8).
    for part in [1, 2, 3, 5, 9, 4096] {
        let upstream = Upstream::start(vec![event_stream(&payload_parts(&sse, part), 7)]).await;
        let text =
            String::from_utf8(send(&client(&upstream), STREAM).await.unwrap().to_vec()).unwrap();
        let content: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(content, "Héllo", "part size {part}: {text}");
        assert!(text.contains("\"finish_reason\":\"stop\""), "{text}");
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
        let seen = upstream.seen(0);
        assert_eq!(
            seen.path_and_query,
            "/endpoints/my-tgi-endpoint/invocations-response-stream"
        );
        assert_eq!(
            seen.json()["stream"],
            true,
            "TGI streams only when asked in the body"
        );
    }
}

#[tokio::test]
async fn a_model_stream_error_ends_the_stream_with_an_error_not_a_stop() {
    let mut bytes = payload_parts(&tgi_sse()[..120], 4096);
    bytes.extend(frame(
        "exception",
        "ModelStreamError",
        br#"{"Message":"CUDA out of memory","ErrorCode":"ModelError"}"#,
    ));
    let upstream = Upstream::start(vec![event_stream(&bytes, 64)]).await;
    let text = String::from_utf8(send(&client(&upstream), STREAM).await.unwrap().to_vec()).unwrap();
    assert!(text.contains("CUDA out of memory"), "{text}");
    assert!(text.contains("ModelStreamError"), "{text}");
    assert!(!text.contains("\"finish_reason\":\"stop\""), "{text}");
}

#[tokio::test]
async fn a_model_error_keeps_the_models_own_status_and_message() {
    let upstream = Upstream::start(vec![Reply::Body {
        status: 424,
        headers: vec![
            ("content-type", "application/json".into()),
            (
                "x-amzn-errortype",
                "ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/".into(),
            ),
        ],
        body: Bytes::from_static(br#"{"ErrorCode":"CLIENT_ERROR_FROM_MODEL","LogStreamArn":"arn:aws:logs:us-west-2:123:log-group:/aws/sagemaker/Endpoints/my-tgi-endpoint","Message":"Received client error (422) from primary with message \"Input validation error\"","OriginalMessage":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096","OriginalStatusCode":422}"#),
    }])
    .await;
    let err = send(&client(&upstream), CHAT).await.unwrap_err();
    assert_eq!(err.status(), 422);
    assert!(
        err.message().contains("must be <= 4096"),
        "{}",
        err.message()
    );
    assert_eq!(err.to_json()["error"]["code"], "ModelError");
}

#[tokio::test]
async fn throttling_is_a_429_with_retry_after() {
    let upstream = Upstream::start(vec![Reply::Body {
        status: 400,
        headers: vec![
            ("content-type", "application/json".into()),
            (
                "x-amzn-errortype",
                "ThrottlingException:http://internal.amazon.com/".into(),
            ),
        ],
        body: Bytes::from_static(br#"{"message":"Rate exceeded"}"#),
    }])
    .await;
    let err = send(&client(&upstream), CHAT).await.unwrap_err();
    assert_eq!(err.status(), 429);
    assert!(err.retry_after().is_some());
    assert!(err.message().contains("Rate exceeded"), "{}", err.message());
}

#[tokio::test]
async fn json_mode_is_refused_by_name_before_anything_is_sent() {
    let upstream = Upstream::start(vec![]).await;
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}"#;
    let err = send(&client(&upstream), body).await.unwrap_err();
    assert!(err.is_unsupported_params(), "{err:?}");
    assert!(
        err.message().contains("response_format"),
        "{}",
        err.message()
    );
    assert_eq!(upstream.count(), 0);
}

#[test]
fn the_legacy_sagemaker_prefix_is_refused_naming_sagemaker_chat() {
    let err = Endpoint::new("sagemaker/jumpstart-dft-meta-textgeneration-llama-2-7b").unwrap_err();
    assert!(
        err.contains("sagemaker_chat/jumpstart-dft-meta-textgeneration-llama-2-7b"),
        "{err}"
    );
    assert!(err.contains("chat template"), "{err}");
}

#[test]
fn an_endpoint_name_that_is_not_one_path_segment_is_refused() {
    for name in ["a/b", "x?y=1", "-lead", "with space", ""] {
        let model = format!("sagemaker_chat/{name}");
        assert!(Endpoint::new(&model).is_err(), "{model}");
    }
    assert!(Endpoint::new("sagemaker_chat/hf-llm-mistral-7b-2024-05-01").is_ok());
}

#[test]
fn an_endpoint_without_keys_or_region_says_what_is_missing() {
    let ep = Endpoint::new(MODEL).unwrap();
    assert!(ep.validate().unwrap_err().contains("aws_region_name"));
}
