//! The routes and routing LiteLLM's clients rely on, end to end on loopback against
//! fake providers that record what they were sent: wildcard model names,
//! `/v1/responses` (passed through to OpenAI, translated for Anthropic, streams
//! included), `/v1/completions`, `/v1/messages/count_tokens`, `/v1/models/{id}` and
//! the un-versioned aliases.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use support::{json as reply_json, sse, End, Upstream};

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct Harness {
    gateway: Gateway,
    client: pool_layer::Client<Full<Bytes>>,
}

impl Harness {
    async fn start(yaml: &str) -> Self {
        let config =
            Config::parse_with_env(yaml, "test.yaml", &|_| None).unwrap_or_else(|e| panic!("{e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self {
            gateway: Gateway::start(config, listener).await.unwrap(),
            client: pool_layer::Client::builder().build(),
        }
    }

    async fn send(&self, method: &str, path: &str, body: &str) -> Answer {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.gateway.addr()))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let res =
            tokio::time::timeout(std::time::Duration::from_secs(10), self.client.request(req))
                .await
                .expect("answered in time")
                .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send("POST", path, &body.to_string()).await
    }
}

fn entry(name: &str, model: &str, upstream: &Upstream) -> String {
    format!(
        "  - model_name: \"{name}\"\n    litellm_params: {{model: \"{model}\", api_base: \"{}\", api_key: sk-upstream}}\n",
        upstream.base()
    )
}

const OPENAI_CHAT: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

/// From Anthropic's Messages API reference: a text answer.
const ANTHROPIC_MESSAGE: &str = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022","content":[{"type":"text","text":"Hello from Claude"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":4}}"#;

/// From Anthropic's streaming reference: a text answer in events.
const ANTHROPIC_STREAM: &[&str] = &[
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_02\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
];

/// From Anthropic's tool-use reference: a `tool_use` answer.
const ANTHROPIC_TOOL_USE: &str = r#"{"id":"msg_03","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":10}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_model_names_route_to_the_provider_the_pattern_names() {
    let openai = Upstream::start(vec![]).await;
    openai.always(reply_json(200, OPENAI_CHAT));
    let yaml = format!(
        "model_list:\n{}{}",
        entry("openai/*", "openai/*", &openai),
        entry("anthropic/*", "openai/*", &openai)
    );
    let h = Harness::start(&yaml).await;
    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});

    let a = h.post("/v1/chat/completions", chat("openai/gpt-4o")).await;
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(openai.seen(0).path_and_query, "/chat/completions");
    assert_eq!(openai.seen(0).json()["model"], "gpt-4o");

    let b = h
        .post("/chat/completions", chat("anthropic/claude-3-haiku"))
        .await;
    assert_eq!(b.status, 200, "{}", b.text());
    assert_eq!(
        openai.seen(1).json()["model"],
        "claude-3-haiku",
        "`anthropic/*` → `openai/*`"
    );

    let c = h
        .post("/v1/chat/completions", chat("gemini/gemini-pro"))
        .await;
    assert_eq!(c.status, 404);
    assert_eq!(c.json()["error"]["code"], "model_not_found");
    assert_eq!(openai.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_pass_through_to_openai_with_only_the_model_changed() {
    let openai = Upstream::start(vec![]).await;
    let answer = r#"{"id":"resp_native","object":"response","status":"completed","model":"gpt-4o","output":[]}"#;
    openai.always(reply_json(200, answer));
    let h = Harness::start(&format!(
        "model_list:\n{}",
        entry("gpt", "openai/gpt-4o", &openai)
    ))
    .await;
    for path in ["/v1/responses", "/responses"] {
        let res = h
            .post(
                path,
                json!({"model": "gpt", "input": "Hello", "store": false}),
            )
            .await;
        assert_eq!((res.status, res.text()), (200, answer.to_string()));
    }
    let seen = openai.seen(0);
    assert_eq!(seen.path_and_query, "/responses");
    assert_eq!(
        seen.json(),
        json!({"input": "Hello", "store": false, "model": "gpt-4o"})
    );
    assert_eq!(seen.headers["authorization"], "Bearer sk-upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_translated_to_anthropic_messages_and_back() {
    let anthropic = Upstream::start(vec![
        reply_json(200, ANTHROPIC_MESSAGE),
        reply_json(200, ANTHROPIC_TOOL_USE),
    ])
    .await;
    let h = Harness::start(&format!(
        "model_list:\n{}",
        entry("claude", "anthropic/claude-3-5-haiku-latest", &anthropic)
    ))
    .await;
    let res = h
        .post(
            "/v1/responses",
            json!({"model": "claude", "instructions": "Be brief.", "input": "Hi", "max_output_tokens": 50}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["output"][0]["type"], "message");
    assert_eq!(body["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(body["output"][0]["content"][0]["text"], "Hello from Claude");
    assert_eq!(
        (
            body["usage"]["input_tokens"].as_u64(),
            body["usage"]["output_tokens"].as_u64()
        ),
        (Some(12), Some(4))
    );
    let sent = anthropic.seen(0);
    assert_eq!(sent.path_and_query, "/v1/messages");
    let sent = sent.json();
    assert_eq!(
        (sent["system"].clone(), sent["max_tokens"].clone()),
        (json!("Be brief."), json!(50))
    );
    assert_eq!(sent["messages"][0]["content"][0]["text"], "Hi");

    let tool = json!({"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}});
    let res = h
        .post(
            "/v1/responses",
            json!({"model": "claude", "input": "Weather in Paris?", "tools": [tool]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["output"][1]["type"], "function_call");
    assert_eq!(body["output"][1]["name"], "get_weather");
    assert_eq!(body["output"][1]["call_id"], "toolu_01");
    assert_eq!(
        serde_json::from_str::<Value>(body["output"][1]["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(anthropic.seen(1).json()["tools"][0]["name"], "get_weather");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_translated_responses_stream_runs_from_created_to_completed() {
    let anthropic = Upstream::start(vec![sse(ANTHROPIC_STREAM, End::Close)]).await;
    let h = Harness::start(&format!(
        "model_list:\n{}",
        entry("claude", "anthropic/claude-3-5-haiku-latest", &anthropic)
    ))
    .await;
    let res = h
        .post(
            "/v1/responses",
            json!({"model": "claude", "input": "Hi", "stream": true}),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["content-type"], "text/event-stream");
    let events: Vec<Value> = res
        .text()
        .split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
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
            "response.completed",
        ]
    );
    let numbers: Vec<u64> = events
        .iter()
        .map(|e| e["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (0..10).collect::<Vec<_>>());
    assert_eq!(events[6]["text"], "Hello");
    let done = &events[9]["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(done["usage"]["output_tokens"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_translated_stream_ends_with_response_failed() {
    let anthropic = Upstream::start(vec![sse(&ANTHROPIC_STREAM[..3], End::Abort)]).await;
    let h = Harness::start(&format!(
        "model_list:\n{}",
        entry("claude", "anthropic/claude-3-5-haiku-latest", &anthropic)
    ))
    .await;
    let res = h
        .post(
            "/responses",
            json!({"model": "claude", "input": "Hi", "stream": true}),
        )
        .await;
    let text = res.text();
    assert!(text.contains("event: response.failed"), "{text}");
    assert!(
        !text.contains("response.completed"),
        "never a made-up completion: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_chat_cannot_carry_is_refused_by_name() {
    let anthropic = Upstream::start(vec![]).await;
    let h = Harness::start(&format!(
        "model_list:\n{}",
        entry("claude", "anthropic/claude", &anthropic)
    ))
    .await;
    for (body, name) in [
        (
            json!({"model": "claude", "input": "x", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"model": "claude", "input": "x", "tools": [{"type": "web_search"}]}),
            "web_search",
        ),
        (
            json!({"model": "claude", "input": [{"type": "reasoning", "summary": []}]}),
            "reasoning",
        ),
    ] {
        let res = h.post("/v1/responses", body).await;
        assert_eq!(res.status, 400, "{}", res.text());
        assert_eq!(res.json()["error"]["code"], "unsupported_params");
        assert!(
            res.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(name),
            "{}",
            res.text()
        );
    }
    assert_eq!(anthropic.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_completions_pass_through_to_openai_and_are_refused_for_anthropic() {
    let openai = Upstream::start(vec![]).await;
    let answer = r#"{"id":"cmpl-1","object":"text_completion","choices":[{"text":"!","index":0,"finish_reason":"stop"}]}"#;
    openai.always(reply_json(200, answer));
    let anthropic = Upstream::start(vec![]).await;
    let yaml = format!(
        "model_list:\n{}{}",
        entry(
            "instruct",
            "text-completion-openai/gpt-3.5-turbo-instruct",
            &openai
        ),
        entry("claude", "anthropic/claude", &anthropic)
    );
    let h = Harness::start(&yaml).await;
    for path in ["/v1/completions", "/completions"] {
        let res = h
            .post(path, json!({"model": "instruct", "prompt": "Say hi"}))
            .await;
        assert_eq!((res.status, res.text()), (200, answer.to_string()));
    }
    assert_eq!(openai.seen(0).path_and_query, "/completions");
    assert_eq!(openai.seen(0).json()["model"], "gpt-3.5-turbo-instruct");
    let res = h
        .post("/v1/completions", json!({"model": "claude", "prompt": "x"}))
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["error"]["code"], "unsupported_endpoint");
    assert_eq!(anthropic.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_is_native_for_anthropic_and_an_estimate_elsewhere() {
    let anthropic = Upstream::start(vec![reply_json(200, r#"{"input_tokens":14}"#)]).await;
    let openai = Upstream::start(vec![]).await;
    let yaml = format!(
        "model_list:\n{}{}",
        entry("claude", "anthropic/claude-3-5-haiku-latest", &anthropic),
        entry("gpt", "openai/gpt-4o", &openai)
    );
    let h = Harness::start(&yaml).await;
    let body = |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "Hello, world"}]});
    let native = h.post("/v1/messages/count_tokens", body("claude")).await;
    assert_eq!(
        (native.status, native.json()),
        (200, json!({"input_tokens": 14}))
    );
    assert!(native.headers.get("x-gateway-token-count").is_none());
    let sent = anthropic.seen(0);
    assert_eq!(sent.path_and_query, "/v1/messages/count_tokens");
    assert_eq!(sent.json()["model"], "claude-3-5-haiku-latest");
    assert_eq!(sent.headers["x-api-key"], "sk-upstream");

    let estimate = h.post("/messages/count_tokens", body("gpt")).await;
    // "user" and "Hello, world": 16 characters, four per token.
    assert_eq!(
        (estimate.status, estimate.json()),
        (200, json!({"input_tokens": 4}))
    );
    assert_eq!(
        estimate.headers["x-gateway-token-count"],
        "estimate; characters/4"
    );
    assert_eq!(openai.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_can_be_retrieved_by_id_including_wildcard_matches() {
    let openai = Upstream::start(vec![]).await;
    let yaml = format!(
        "model_list:\n{}{}    model_info: {{id: gpt-id, max_input_tokens: 128000}}\n",
        entry("openai/*", "openai/*", &openai),
        entry("gpt", "openai/gpt-4o", &openai)
    );
    let h = Harness::start(&yaml).await;
    let gpt = h.send("GET", "/v1/models/gpt", "").await;
    assert_eq!(gpt.status, 200);
    assert_eq!(
        (gpt.json()["id"].clone(), gpt.json()["object"].clone()),
        (json!("gpt"), json!("model"))
    );
    assert_eq!(gpt.json()["model_info"]["max_input_tokens"], 128000);
    let wild = h.send("GET", "/models/openai/gpt-4.1", "").await;
    assert_eq!(
        (wild.status, wild.json()["id"].clone()),
        (200, json!("openai/gpt-4.1"))
    );
    let none = h.send("GET", "/v1/models/claude", "").await;
    assert_eq!(none.status, 404);
    assert_eq!(none.json()["error"]["code"], "model_not_found");
    let list = h.send("GET", "/models", "").await;
    let ids: Vec<Value> = list.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [json!("gpt"), json!("openai/*")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unversioned_messages_alias_is_served() {
    let anthropic = Upstream::start(vec![reply_json(200, ANTHROPIC_MESSAGE)]).await;
    let h = Harness::start(&format!(
        "model_list:\n{}",
        entry("claude", "anthropic/claude", &anthropic)
    ))
    .await;
    let res = h
        .post("/messages", json!({"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["content"][0]["text"], "Hello from Claude");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_through_responses_stream_is_forwarded_and_a_stall_ends_it_with_an_error_event() {
    let created = "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}\n\n";
    let completed = "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":1,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"output\":[]}}\n\n";
    let openai = Upstream::start(vec![
        sse(&[created, completed], End::Close),
        sse(&[created], End::Hang),
    ])
    .await;
    let yaml = format!(
        "model_list:\n  - model_name: gpt\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{}\", api_key: sk-upstream, stream_timeout: 0.3}}\n",
        openai.base()
    );
    let h = Harness::start(&yaml).await;
    let whole = h
        .post(
            "/v1/responses",
            json!({"model": "gpt", "input": "x", "stream": true}),
        )
        .await;
    assert_eq!(
        (whole.status, whole.text()),
        (200, format!("{created}{completed}"))
    );
    assert_eq!(openai.seen(0).headers["accept"], "text/event-stream");

    let started = std::time::Instant::now();
    let stalled = h
        .post(
            "/v1/responses",
            json!({"model": "gpt", "input": "x", "stream": true}),
        )
        .await;
    let text = stalled.text();
    assert!(text.starts_with(created), "{text}");
    assert!(
        text.contains("event: error\ndata: {") && text.contains("stalled"),
        "{text}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_through_responses_stream_closed_before_its_final_event_ends_with_an_error_event()
{
    let created = "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}\n\n";
    let openai = Upstream::start(vec![sse(&[created], End::Close)]).await;
    let yaml = format!(
        "model_list:\n  - model_name: gpt\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{}\", api_key: sk-upstream}}\n",
        openai.base()
    );
    let h = Harness::start(&yaml).await;
    let cut = h
        .post(
            "/v1/responses",
            json!({"model": "gpt", "input": "x", "stream": true}),
        )
        .await;
    let text = cut.text();
    assert!(text.starts_with(created), "{text}");
    assert!(
        text.contains("event: error\ndata: {") && text.contains("stream_truncated"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_group_alias_is_served_and_hidden_aliases_are_not_listed() {
    let openai = Upstream::start(vec![]).await;
    openai.always(reply_json(200, OPENAI_CHAT));
    let yaml = format!(
        "model_list:\n{}router_settings:\n  model_group_alias: {{gpt-4: gpt, GPT: {{model: gpt, hidden: true}}}}\n",
        entry("gpt", "openai/gpt-4o", &openai)
    );
    let h = Harness::start(&yaml).await;
    for alias in ["gpt-4", "GPT"] {
        let res = h
            .post(
                "/v1/chat/completions",
                json!({"model": alias, "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(res.status, 200, "{alias}: {}", res.text());
    }
    assert_eq!(openai.count(), 2);
    let ids: Vec<Value> = h.send("GET", "/v1/models", "").await.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [json!("gpt"), json!("gpt-4")]);
    assert_eq!(h.send("GET", "/v1/models/GPT", "").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_pass_through_to_azure_with_its_url_and_key_header() {
    let azure = Upstream::start(vec![reply_json(
        200,
        r#"{"id":"resp_az","object":"response","status":"completed","output":[]}"#,
    )])
    .await;
    let h = Harness::start(&format!(
        "model_list:\n{}",
        entry("az", "azure/my-gpt-4o", &azure)
    ))
    .await;
    let res = h
        .post("/v1/responses", json!({"model": "az", "input": "hi"}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let seen = azure.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/openai/responses?api-version=2025-03-01-preview"
    );
    assert_eq!(seen.headers["api-key"], "sk-upstream");
    assert_eq!(seen.json()["model"], "my-gpt-4o");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_responses_attempt_is_retried_on_another_deployment() {
    let down = Upstream::start(vec![]).await;
    down.always(reply_json(
        503,
        r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
    ));
    let up = Upstream::start(vec![]).await;
    up.always(reply_json(
        200,
        r#"{"id":"resp_ok","object":"response","status":"completed","output":[]}"#,
    ));
    let yaml = format!(
        "model_list:\n{}{}router_settings: {{routing_strategy: simple-shuffle}}\n",
        entry("gpt", "openai/gpt-4o", &down),
        entry("gpt", "openai/gpt-4o", &up)
    );
    let h = Harness::start(&yaml).await;
    for _ in 0..2 {
        let res = h
            .post("/v1/responses", json!({"model": "gpt", "input": "x"}))
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    assert_eq!(up.count(), 2);
    assert!(
        down.count() >= 1,
        "the round robin tried the failing one first once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_routes_require_the_master_key() {
    let openai = Upstream::start(vec![]).await;
    let yaml = format!(
        "server: {{master_key: sk-gw}}\nmodel_list:\n{}",
        entry("gpt", "openai/gpt-4o", &openai)
    );
    let h = Harness::start(&yaml).await;
    for (method, path) in [
        ("POST", "/v1/responses"),
        ("POST", "/completions"),
        ("POST", "/v1/messages/count_tokens"),
        ("GET", "/v1/models/gpt"),
    ] {
        let res = h.send(method, path, r#"{"model":"gpt","input":"x"}"#).await;
        assert_eq!(res.status, 401, "{method} {path}");
    }
    assert_eq!(openai.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_style_paths_take_the_model_from_the_path_and_the_key_from_api_key() {
    let openai = Upstream::start(vec![]).await;
    openai.always(reply_json(200, OPENAI_CHAT));
    let yaml = format!(
        "server: {{master_key: sk-gw}}\nmodel_list:\n{}",
        entry("gpt", "openai/gpt-4o", &openai)
    );
    let h = Harness::start(&yaml).await;
    let send = |path: &'static str, key: &'static str| {
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("http://{}{path}", h.gateway.addr()))
            .header("content-type", "application/json")
            .header("api-key", key)
            .body(Full::new(Bytes::from(
                r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            )))
            .unwrap();
        h.client.request(req)
    };
    for path in [
        "/openai/deployments/gpt/chat/completions?api-version=2024-10-21",
        "/engines/gpt/chat/completions",
    ] {
        let res = send(path, "sk-gw").await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    assert_eq!(openai.count(), 2);
    assert_eq!(openai.seen(0).json()["model"], "gpt-4o");
    assert_eq!(openai.seen(0).path_and_query, "/chat/completions");
    assert!(
        openai.seen(0).headers.get("api-key").is_none(),
        "the client's key is not forwarded"
    );
    let res = send("/openai/deployments/gpt/chat/completions", "wrong")
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = send("/openai/deployments/nope/chat/completions", "sk-gw")
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(openai.count(), 2);
}
