//! IBM watsonx.ai: the API key exchanged at a recording IAM token endpoint, the token
//! cached, renewed ahead of expiry and shared by concurrent requests, refusals a 401
//! naming the deployment; the text chat API (`model_id`, `project_id`/`space_id`,
//! `tool_choice_option`), its SSE stream that ends without `[DONE]`, deployments,
//! embeddings, and watsonx's error shape in the OpenAI contract.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use provider_adapters::ibm::WatsonxAuth;
use provider_adapters::{Api, Endpoint, ProviderClient, Secret};
use serde_json::{json, Value};
use support::{json as reply_json, sse, End, Reply, Upstream};

const ANSWER: &str = include_str!("fixtures/watsonx_chat_response.json");
const STREAM: &str = include_str!("fixtures/watsonx_stream.sse");
const CHAT: &str =
    r#"{"model":"m","messages":[{"role":"user","content":"How far is Paris from Bangalore?"}]}"#;

fn token(access_token: &str, expires_in: u64) -> Reply {
    // IAM's answer (https://cloud.ibm.com/docs/account?topic=account-iamtoken_from_apikey).
    reply_json(
        200,
        &json!({"access_token": access_token, "refresh_token": "not_supported",
                "token_type": "Bearer", "expires_in": expires_in,
                "expiration": 1_700_003_600, "scope": "ibm openid"})
        .to_string(),
    )
}

fn endpoint(model: &str, wx: &Upstream, iam: &Upstream) -> Endpoint {
    let mut ep = Endpoint::new(model)
        .unwrap()
        .with_api_base(wx.base())
        .with_api_key(Secret::new("ibm-api-key/with+odd=chars".to_string()));
    ep.watsonx = Some(WatsonxAuth {
        project_id: Some("proj-123".into()),
        iam_url: Some(format!("{}/identity/token", iam.base())),
        ..WatsonxAuth::default()
    });
    ep.timeout = Duration::from_secs(10);
    ep
}

fn client(ep: Endpoint) -> ProviderClient {
    ProviderClient::new(ep, pool_layer::Client::builder().build())
}

async fn send(
    client: &ProviderClient,
    body: &str,
) -> Result<Value, provider_adapters::ProviderError> {
    let res = client
        .send(Api::ChatCompletions, Bytes::from(body.to_string()))
        .await?;
    Ok(serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap())
}

#[tokio::test]
async fn the_api_key_is_exchanged_at_iam_and_the_chat_api_gets_the_token() {
    let iam = Upstream::start(vec![token("iam.first", 3600)]).await;
    let wx = Upstream::start(vec![reply_json(200, ANSWER)]).await;
    let client = client(endpoint("watsonx/ibm/granite-3-8b-instruct", &wx, &iam));
    let answer = send(&client, CHAT).await.unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "The flight distance is about 7,800 km."
    );
    assert_eq!(answer["usage"]["total_tokens"], 53);

    let call = iam.seen(0);
    assert_eq!(call.path_and_query, "/identity/token");
    assert_eq!(
        call.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        String::from_utf8(call.body.to_vec()).unwrap(),
        "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey=ibm-api-key%2Fwith%2Bodd%3Dchars"
    );

    let seen = wx.seen(0);
    assert_eq!(seen.path_and_query, "/ml/v1/text/chat?version=2024-03-13");
    assert_eq!(seen.headers["authorization"], "Bearer iam.first");
    let body = seen.json();
    assert_eq!(body["model_id"], "ibm/granite-3-8b-instruct");
    assert_eq!(body["project_id"], "proj-123");
    assert!(
        body.get("model").is_none() && body.get("stream").is_none(),
        "{body}"
    );
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "How far is Paris from Bangalore?"}])
    );
}

#[tokio::test]
async fn concurrent_requests_share_one_iam_exchange() {
    let iam = Upstream::start(vec![]).await;
    iam.always(Reply::Delayed(
        Duration::from_millis(100),
        Box::new(token("iam.shared", 3600)),
    ));
    let wx = Upstream::start(vec![]).await;
    wx.always(reply_json(200, ANSWER));
    let client = client(endpoint("watsonx/ibm/granite-3-8b-instruct", &wx, &iam));
    let (a, b, c) = tokio::join!(
        send(&client, CHAT),
        send(&client, CHAT),
        send(&client, CHAT)
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    send(&client, CHAT).await.unwrap();
    assert_eq!(iam.count(), 1, "one exchange while the token is fresh");
    assert!((0..4).all(|i| wx.seen(i).headers["authorization"] == "Bearer iam.shared"));
}

#[tokio::test]
async fn deployments_that_share_a_key_share_its_token_and_another_key_gets_its_own() {
    let iam = Upstream::start(vec![]).await;
    iam.always(token("iam.per-key", 3600));
    let wx = Upstream::start(vec![]).await;
    wx.always(reply_json(200, ANSWER));
    let a = client(endpoint("watsonx/ibm/granite-3-8b-instruct", &wx, &iam));
    let b = client(endpoint(
        "watsonx/meta-llama/llama-3-3-70b-instruct",
        &wx,
        &iam,
    ));
    let other = endpoint("watsonx/ibm/granite-3-8b-instruct", &wx, &iam)
        .with_api_key(Secret::new("another-key".to_string()));
    let c = client(other);
    send(&a, CHAT).await.unwrap();
    send(&b, CHAT).await.unwrap();
    assert_eq!(iam.count(), 1, "one exchange for the shared key");
    send(&c, CHAT).await.unwrap();
    assert_eq!(iam.count(), 2);
    assert!(String::from_utf8(iam.seen(1).body.to_vec())
        .unwrap()
        .ends_with("apikey=another-key"));
}

#[tokio::test]
async fn a_token_inside_the_renewal_margin_is_renewed_before_use() {
    let short = provider_adapters::ibm::IAM_REFRESH_AHEAD.as_secs() - 60;
    let iam = Upstream::start(vec![token("iam.short", short), token("iam.next", 3600)]).await;
    let wx = Upstream::start(vec![]).await;
    wx.always(reply_json(200, ANSWER));
    let client = client(endpoint("watsonx/ibm/granite-3-8b-instruct", &wx, &iam));
    for _ in 0..3 {
        send(&client, CHAT).await.unwrap();
    }
    assert_eq!(iam.count(), 2);
    assert_eq!(wx.seen(0).headers["authorization"], "Bearer iam.short");
    assert_eq!(wx.seen(1).headers["authorization"], "Bearer iam.next");
    assert_eq!(wx.seen(2).headers["authorization"], "Bearer iam.next");
}

#[tokio::test]
async fn a_refused_api_key_is_a_401_naming_the_deployment_and_iams_reason() {
    let iam = Upstream::start(vec![reply_json(
        400,
        r#"{"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found.","context":{"requestId":"r1"}}"#,
    )])
    .await;
    let wx = Upstream::start(vec![]).await;
    let client = client(endpoint("watsonx/ibm/granite-3-8b-instruct", &wx, &iam));
    let err = send(&client, CHAT).await.unwrap_err();
    assert_eq!(err.status(), 401);
    for part in [
        "ibm/granite-3-8b-instruct",
        "BXNIM0415E",
        "Provided API key could not be found.",
    ] {
        assert!(
            err.message().contains(part),
            "`{part}` missing: {}",
            err.message()
        );
    }
    assert!(!err.message().contains("ibm-api-key"), "{}", err.message());
    assert_eq!(wx.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_iam_endpoint_that_never_answers_times_out() {
    let iam = Upstream::start(vec![Reply::Delayed(
        Duration::from_secs(3600),
        Box::new(token("late", 3600)),
    )])
    .await;
    let wx = Upstream::start(vec![]).await;
    let client = client(endpoint("watsonx/ibm/granite-3-8b-instruct", &wx, &iam));
    let err = send(&client, CHAT).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(wx.count(), 0);
}

#[tokio::test]
async fn a_static_token_is_sent_as_it_is_and_iam_is_never_called() {
    let iam = Upstream::start(vec![]).await;
    let wx = Upstream::start(vec![reply_json(200, ANSWER)]).await;
    let mut ep = endpoint("watsonx/ibm/granite-3-8b-instruct", &wx, &iam);
    ep.api_key = None;
    if let Some(w) = ep.watsonx.as_mut() {
        w.token = Some(Secret::new("static-bearer".to_string()));
        w.project_id = None;
        w.space_id = Some("space-9".into());
    }
    ep.validate().unwrap();
    send(&client(ep), CHAT).await.unwrap();
    assert_eq!(iam.count(), 0);
    let seen = wx.seen(0);
    assert_eq!(seen.headers["authorization"], "Bearer static-bearer");
    let body = seen.json();
    assert_eq!(body["space_id"], "space-9");
    assert!(body.get("project_id").is_none());
}

#[tokio::test]
async fn a_stream_goes_to_chat_stream_and_ends_at_its_last_finish_reason() {
    let iam = Upstream::start(vec![token("iam.s", 3600)]).await;
    let events: Vec<&str> = STREAM.split_inclusive("\n\n").collect();
    let wx = Upstream::start(vec![sse(&events, End::Close)]).await;
    let client = client(endpoint("watsonx/ibm/granite-3-8b-instruct", &wx, &iam));
    let body = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
    let res = client
        .send(Api::ChatCompletions, Bytes::from_static(body.as_bytes()))
        .await
        .unwrap();
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("\"content\":\"About \""), "{text}");
    assert!(text.contains("\"content\":\"7,800 km.\""), "{text}");
    assert!(text.contains("\"finish_reason\":\"stop\""), "{text}");
    assert!(text.contains("\"total_tokens\":47"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(!text.contains("\"error\""), "{text}");
    let seen = wx.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/ml/v1/text/chat_stream?version=2024-03-13"
    );
    assert!(seen.json().get("stream").is_none());
}

#[tokio::test]
async fn a_stream_cut_before_its_finish_reason_ends_with_an_error() {
    let iam = Upstream::start(vec![token("iam.c", 3600)]).await;
    let events: Vec<&str> = STREAM.split_inclusive("\n\n").take(2).collect();
    let wx = Upstream::start(vec![sse(&events, End::Close)]).await;
    let client = client(endpoint("watsonx/ibm/granite-3-8b-instruct", &wx, &iam));
    let body = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let res = client
        .send(Api::ChatCompletions, Bytes::from_static(body.as_bytes()))
        .await
        .unwrap();
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("\"error\""), "{text}");
    assert!(!text.contains("\"finish_reason\":\"stop\""), "{text}");
}

#[tokio::test]
async fn tool_choice_modes_are_tool_choice_option_and_a_named_tool_stays_tool_choice() {
    let iam = Upstream::start(vec![token("iam.t", 3600)]).await;
    let wx = Upstream::start(vec![]).await;
    wx.always(reply_json(200, ANSWER));
    let client = client(endpoint(
        "watsonx/meta-llama/llama-3-3-70b-instruct",
        &wx,
        &iam,
    ));
    let tools = r#"[{"type":"function","function":{"name":"distance","parameters":{"type":"object","properties":{"to":{"type":"string"}}}}}]"#;
    for (choice, option, named) in [
        (r#""required""#, Some("required"), None),
        (r#""none""#, Some("none"), None),
        (
            r#"{"type":"function","function":{"name":"distance"}}"#,
            None,
            Some(json!({"type":"function","function":{"name":"distance"}})),
        ),
    ] {
        let body = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"tools":{tools},"tool_choice":{choice},"max_tokens":50,"temperature":0.2}}"#
        );
        send(&client, &body).await.unwrap();
        let sent = wx.seen(wx.count() - 1).json();
        assert_eq!(sent["tool_choice_option"].as_str(), option, "{sent}");
        assert_eq!(sent.get("tool_choice").cloned(), named, "{sent}");
        assert_eq!(sent["tools"][0]["function"]["name"], "distance");
        assert_eq!(sent["max_tokens"], 50);
        assert_eq!(sent["temperature"], 0.2);
    }
}

#[tokio::test]
async fn a_parameter_watsonx_lacks_is_refused_by_name() {
    let iam = Upstream::start(vec![token("iam.r", 3600)]).await;
    let wx = Upstream::start(vec![]).await;
    let client = client(endpoint("watsonx/ibm/granite-3-8b-instruct", &wx, &iam));
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"parallel_tool_calls":false,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}"#;
    let err = send(&client, body).await.unwrap_err();
    assert!(err.is_unsupported_params(), "{err:?}");
    assert!(
        err.message().contains("parallel_tool_calls"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("watsonx"), "{}", err.message());
    assert_eq!(wx.count(), 0);
}

#[tokio::test]
async fn watsonx_errors_become_the_openai_error_contract() {
    let iam = Upstream::start(vec![token("iam.e", 3600)]).await;
    let wx = Upstream::start(vec![reply_json(
        404,
        r#"{"errors":[{"code":"model_not_supported","message":"Model 'ibm/nope' is not supported","more_info":"https://cloud.ibm.com/apidocs/watsonx-ai"}],"trace":"3f1c","status_code":404}"#,
    )])
    .await;
    let client = client(endpoint("watsonx/ibm/nope", &wx, &iam));
    let err = send(&client, CHAT).await.unwrap_err();
    assert_eq!(err.status(), 404);
    assert!(err.is_upstream());
    assert!(
        err.message().contains("Model 'ibm/nope' is not supported"),
        "{}",
        err.message()
    );
    assert_eq!(err.to_json()["error"]["code"], "model_not_supported");
}

#[tokio::test]
async fn a_deployed_model_is_called_at_its_deployment_without_model_or_project() {
    let iam = Upstream::start(vec![token("iam.d", 3600)]).await;
    let wx = Upstream::start(vec![reply_json(200, ANSWER)]).await;
    let mut ep = endpoint("watsonx/deployment/dep-42", &wx, &iam);
    ep.watsonx = ep.watsonx.map(|w| WatsonxAuth {
        project_id: None,
        ..w
    });
    ep.validate().unwrap();
    send(&client(ep), CHAT).await.unwrap();
    let seen = wx.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/ml/v1/deployments/dep-42/text/chat?version=2024-03-13"
    );
    let body = seen.json();
    assert!(
        body.get("model_id").is_none() && body.get("project_id").is_none(),
        "{body}"
    );
}

#[tokio::test]
async fn embeddings_go_to_text_embeddings_and_come_back_as_an_openai_list() {
    let iam = Upstream::start(vec![token("iam.m", 3600)]).await;
    let wx = Upstream::start(vec![reply_json(
        200,
        r#"{"model_id":"ibm/slate-30m-english-rtrvr","results":[{"embedding":[0.1,0.2]},{"embedding":[0.3,0.4]}],"created_at":"2024-10-13T09:20:51.424Z","input_token_count":6}"#,
    )])
    .await;
    let client = client(endpoint("watsonx/ibm/slate-30m-english-rtrvr", &wx, &iam));
    let res = client
        .send(
            Api::Embeddings,
            Bytes::from_static(br#"{"model":"e","input":["a","b"]}"#),
        )
        .await
        .unwrap();
    let out: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(out["data"][1]["embedding"], json!([0.3, 0.4]));
    assert_eq!(out["usage"]["prompt_tokens"], 6);
    let seen = wx.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/ml/v1/text/embeddings?version=2024-03-13"
    );
    assert_eq!(
        seen.json(),
        json!({"inputs": ["a", "b"], "model_id": "ibm/slate-30m-english-rtrvr", "project_id": "proj-123"})
    );
}

#[test]
fn a_deployment_id_that_is_not_one_path_segment_is_refused() {
    for id in ["a/b", "x?version=1", ""] {
        let model = format!("watsonx/deployment/{id}");
        assert!(Endpoint::new(&model).is_err(), "{model}");
    }
    assert!(Endpoint::new("watsonx/deployment/my_serving-name-1").is_ok());
    assert!(Endpoint::new("watsonx/meta-llama/llama-3-3-70b-instruct").is_ok());
}

#[test]
fn a_deployment_without_a_url_key_or_project_is_refused_with_what_is_missing() {
    let ep = Endpoint::new("watsonx/ibm/granite-3-8b-instruct").unwrap();
    assert!(ep.validate().unwrap_err().contains("api_base"));
    let ep = ep.with_api_base("https://us-south.ml.cloud.ibm.com");
    assert!(ep.validate().unwrap_err().contains("api_key"));
    let ep = ep.with_api_key(Secret::new("k".to_string()));
    assert!(ep.validate().unwrap_err().contains("project_id"));
}
