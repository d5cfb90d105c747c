//! Vertex AI with a service account (`vertex_credentials`): the OAuth2 JWT-bearer
//! flow against a recording token endpoint (an RS256 assertion that verifies with the
//! key's public half), the token cached per deployment and renewed ahead of expiry,
//! concurrent renewals coalesced, refusals a 401 naming the deployment; Gemini and
//! Claude (`rawPredict`, `streamRawPredict`) on Vertex URLs.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod support;

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use provider_adapters::google::ServiceAccount;
use provider_adapters::{Api, Endpoint, ProviderClient};
use ring::signature::KeyPair as _;
use serde_json::{json, Value};
use support::{json as reply_json, sse, End, Reply, Upstream};

fn key_file(token_uri: &str) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vertex_service_account.json"
    );
    let mut file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file["token_uri"] = json!(token_uri);
    file.to_string()
}

fn token(access_token: &str, expires_in: u64) -> Reply {
    reply_json(
        200,
        &json!({"access_token": access_token, "expires_in": expires_in, "token_type": "Bearer"})
            .to_string(),
    )
}

fn client(model: &str, vertex: &Upstream, tokens: &Upstream) -> ProviderClient {
    let mut ep = Endpoint::new(model).unwrap().with_api_base(vertex.base());
    ep.vertex_project = Some("test-project".into());
    ep.vertex_location = Some("europe-west4".into());
    ep.vertex_credentials =
        Some(ServiceAccount::from_json(&key_file(&format!("{}/token", tokens.base()))).unwrap());
    ep.timeout = Duration::from_secs(10);
    ProviderClient::new(ep, pool_layer::Client::builder().build())
}

const GEMINI: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello from Vertex"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5},"modelVersion":"gemini-2.0-flash","responseId":"r1"}"#;
const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

async fn send(client: &ProviderClient) -> Result<Value, provider_adapters::ProviderError> {
    let res = client
        .send(Api::ChatCompletions, Bytes::from_static(CHAT.as_bytes()))
        .await?;
    Ok(serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap())
}

/// The public key of the fixture's private key, for checking assertions.
fn public_key() -> Vec<u8> {
    let file: Value = serde_json::from_str(&key_file("x")).unwrap();
    let pem = file["private_key"].as_str().unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&STANDARD.decode(b64).unwrap()).unwrap();
    pair.public_key().as_ref().to_vec()
}

#[tokio::test]
async fn a_service_account_gets_a_token_by_a_signed_assertion_and_vertex_gets_the_token() {
    let tokens = Upstream::start(vec![token("ya29.first", 3600)]).await;
    let vertex = Upstream::start(vec![reply_json(200, GEMINI)]).await;
    let client = client("vertex_ai/gemini-2.0-flash", &vertex, &tokens);
    let answer = send(&client).await.unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from Vertex"
    );

    let seen = vertex.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/v1/projects/test-project/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(seen.headers["authorization"], "Bearer ya29.first");

    let call = tokens.seen(0);
    assert_eq!(call.path_and_query, "/token");
    let form = String::from_utf8(call.body.to_vec()).unwrap();
    let assertion = form
        .strip_prefix("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=")
        .unwrap_or_else(|| panic!("{form}"));
    let parts: Vec<&str> = assertion.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef"})
    );
    assert_eq!(
        claims["iss"],
        "gateway@test-project.iam.gserviceaccount.com"
    );
    assert_eq!(claims["aud"], format!("{}/token", tokens.base()));
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key(),
    )
    .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
    .expect("the assertion verifies with the service account's public key");
}

#[tokio::test]
async fn concurrent_requests_share_one_token_request() {
    let tokens = Upstream::start(vec![]).await;
    tokens.always(Reply::Delayed(
        Duration::from_millis(100),
        Box::new(token("ya29.shared", 3600)),
    ));
    let vertex = Upstream::start(vec![]).await;
    vertex.always(reply_json(200, GEMINI));
    let client = client("vertex_ai/gemini-2.0-flash", &vertex, &tokens);
    let (a, b, c) = tokio::join!(send(&client), send(&client), send(&client));
    a.unwrap();
    b.unwrap();
    c.unwrap();
    send(&client).await.unwrap();
    assert_eq!(
        tokens.count(),
        1,
        "one token for every request while it is fresh"
    );
    assert!((0..4).all(|i| vertex.seen(i).headers["authorization"] == "Bearer ya29.shared"));
}

#[tokio::test]
async fn a_token_inside_the_renewal_margin_is_renewed_before_use() {
    let short = provider_adapters::google::TOKEN_REFRESH_AHEAD.as_secs() - 60;
    let tokens = Upstream::start(vec![token("ya29.short", short), token("ya29.next", 3600)]).await;
    let vertex = Upstream::start(vec![]).await;
    vertex.always(reply_json(200, GEMINI));
    let client = client("vertex_ai/gemini-2.0-flash", &vertex, &tokens);
    send(&client).await.unwrap();
    send(&client).await.unwrap();
    send(&client).await.unwrap();
    assert_eq!(tokens.count(), 2);
    assert_eq!(vertex.seen(0).headers["authorization"], "Bearer ya29.short");
    assert_eq!(vertex.seen(1).headers["authorization"], "Bearer ya29.next");
    assert_eq!(vertex.seen(2).headers["authorization"], "Bearer ya29.next");
}

#[tokio::test]
async fn a_refused_key_is_a_401_naming_the_deployment_and_the_account() {
    let tokens = Upstream::start(vec![reply_json(
        400,
        r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
    )])
    .await;
    let vertex = Upstream::start(vec![]).await;
    let client = client("vertex_ai/gemini-2.0-flash", &vertex, &tokens);
    let err = send(&client).await.unwrap_err();
    assert_eq!(err.status(), 401);
    for part in [
        "gemini-2.0-flash",
        "gateway@test-project.iam.gserviceaccount.com",
        "invalid_grant",
        "Invalid JWT Signature.",
    ] {
        assert!(
            err.message().contains(part),
            "`{part}` missing: {}",
            err.message()
        );
    }
    assert_eq!(vertex.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_token_endpoint_that_never_answers_times_out() {
    let tokens = Upstream::start(vec![Reply::Delayed(
        Duration::from_secs(3600),
        Box::new(token("late", 3600)),
    )])
    .await;
    let vertex = Upstream::start(vec![]).await;
    let client = client("vertex_ai/gemini-2.0-flash", &vertex, &tokens);
    let err = send(&client).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

const CLAUDE: &str = r#"{"id":"msg_vrtx_01","type":"message","role":"assistant","model":"claude-3-5-sonnet-v2@20241022","content":[{"type":"text","text":"Hello from Claude on Vertex"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":5}}"#;

#[tokio::test]
async fn claude_on_vertex_goes_to_raw_predict_with_the_vertex_anthropic_version() {
    let tokens = Upstream::start(vec![token("ya29.claude", 3600)]).await;
    let vertex = Upstream::start(vec![reply_json(200, CLAUDE)]).await;
    let client = client("vertex_ai/claude-3-5-sonnet-v2@20241022", &vertex, &tokens);
    let answer = send(&client).await.unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from Claude on Vertex"
    );
    assert_eq!(answer["usage"]["total_tokens"], 12);
    let seen = vertex.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/v1/projects/test-project/locations/europe-west4/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:rawPredict"
    );
    assert_eq!(seen.headers["authorization"], "Bearer ya29.claude");
    let body = seen.json();
    assert_eq!(body["anthropic_version"], "vertex-2023-10-16");
    assert!(body.get("model").is_none(), "{body}");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    );
}

#[tokio::test]
async fn an_anthropic_messages_stream_to_claude_on_vertex_uses_stream_raw_predict() {
    let tokens = Upstream::start(vec![token("ya29.s", 3600)]).await;
    let events = [
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    ];
    let vertex = Upstream::start(vec![sse(&events, End::Close)]).await;
    let client = client("vertex_ai/claude-3-5-haiku@20241022", &vertex, &tokens);
    let body = r#"{"model":"m","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let res = client
        .send(Api::Messages, Bytes::from_static(body.as_bytes()))
        .await
        .unwrap();
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(
        text.contains("\"text\":\"Hi\"") && text.contains("message_stop"),
        "{text}"
    );
    let seen = vertex.seen(0);
    assert!(
        seen.path_and_query
            .ends_with("/publishers/anthropic/models/claude-3-5-haiku@20241022:streamRawPredict"),
        "{}",
        seen.path_and_query
    );
    assert!(seen.json().get("model").is_none());
}

#[test]
fn a_key_file_that_is_not_a_service_account_is_refused_with_the_reason() {
    let err = ServiceAccount::from_json(
        r#"{"type":"authorized_user","client_email":"a","private_key":"x"}"#,
    )
    .unwrap_err();
    assert!(err.contains("authorized_user"), "{err}");
    let err = ServiceAccount::from_json(r#"{"type":"service_account","client_email":"a","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#).unwrap_err();
    assert!(err.contains("not an RSA PKCS#8 key"), "{err}");
    assert!(ServiceAccount::from_json("not json")
        .unwrap_err()
        .contains("not a service-account key file"));
}
