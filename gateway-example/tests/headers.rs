//! The headers between client, gateway and provider: the request id goes upstream,
//! the provider's request id and rate-limit headers come back.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use support::{Reply, Upstream};

const ANSWER: &str = r#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

/// One chat request with `headers` through a gateway to `upstream`; the response
/// headers.
async fn through(upstream: &Upstream, headers: &[(&str, &str)]) -> http::HeaderMap {
    let yaml = format!(
        "model_list:\n  - model_name: gpt\n    litellm_params: {{model: openai/gpt-4o-mini, api_base: \"{}\", api_key: sk-test}}\n",
        upstream.base()
    );
    let config = Config::parse(&yaml, "headers.yaml").unwrap_or_else(|e| panic!("{e}"));
    let listener = gateway_example::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let gateway = Gateway::start(config, listener).await.unwrap();
    let client = pool_layer::Client::<Full<Bytes>>::builder().build();
    let mut req = http::Request::post(format!("http://{}/v1/chat/completions", gateway.addr()))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = r#"{"model":"gpt","messages":[{"role":"user","content":"hi"}]}"#;
    let res = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    res.into_body().collect().await.unwrap();
    gateway.shutdown().await;
    headers
}

fn answer(headers: &[(&'static str, &str)]) -> Reply {
    let mut all = vec![("content-type", "application/json".to_string())];
    all.extend(headers.iter().map(|(k, v)| (*k, v.to_string())));
    Reply::Body {
        status: 200,
        headers: all,
        body: Bytes::from(ANSWER),
    }
}

#[tokio::test]
async fn the_clients_request_id_goes_upstream_and_comes_back() {
    let upstream = Upstream::start(vec![answer(&[])]).await;
    let headers = through(&upstream, &[("x-request-id", "client-7")]).await;
    assert_eq!(upstream.seen(0).headers["x-request-id"], "client-7");
    assert_eq!(headers["x-request-id"], "client-7");
}

#[tokio::test]
async fn a_request_without_an_id_sends_the_gateways_upstream() {
    let upstream = Upstream::start(vec![answer(&[])]).await;
    let headers = through(&upstream, &[]).await;
    let sent = upstream.seen(0).headers["x-request-id"].clone();
    assert!(!sent.is_empty());
    assert_eq!(
        headers["x-request-id"], sent,
        "the id the client got went upstream"
    );
}

#[tokio::test]
async fn the_providers_request_id_and_rate_limit_headers_reach_the_client() {
    let upstream = Upstream::start(vec![answer(&[
        ("x-request-id", "req_provider_1"),
        ("x-ratelimit-remaining-requests", "59"),
        ("x-ratelimit-remaining-tokens", "149000"),
        ("x-ratelimit-reset-requests", "1s"),
        ("openai-processing-ms", "12"),
    ])])
    .await;
    let headers = through(&upstream, &[("x-request-id", "client-8")]).await;
    assert_eq!(headers["llm_provider-x-request-id"], "req_provider_1");
    assert_eq!(
        headers["x-request-id"], "client-8",
        "the gateway's id stays the id"
    );
    assert_eq!(headers["x-ratelimit-remaining-requests"], "59");
    assert_eq!(headers["x-ratelimit-remaining-tokens"], "149000");
    assert_eq!(headers["x-ratelimit-reset-requests"], "1s");
    assert!(
        !headers.contains_key("openai-processing-ms"),
        "only the documented ones"
    );
}
