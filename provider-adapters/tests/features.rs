//! Golden tests per provider per feature: client requests in the OpenAI and Anthropic
//! formats, through the real shared client to a recording loopback upstream that
//! answers in the provider's documented wire format.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod support;

use bytes::Bytes;
use http_body_util::BodyExt;
use provider_adapters::request::peek;
use provider_adapters::sse::{SseEvent, SseParser};
use provider_adapters::{
    Api, DroppedParams, Endpoint, Param, ProviderClient, ProviderError, Secret,
};
use serde_json::{json, Value};
use support::{json as reply_json, sse, End, Upstream};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn endpoint(model: &str, upstream: &Upstream) -> Endpoint {
    Endpoint::new(model)
        .unwrap()
        .with_api_base(upstream.base())
        .with_api_key(Secret::new("k-test"))
}

fn client(endpoint: Endpoint) -> ProviderClient {
    ProviderClient::new(endpoint, pool_layer::Client::builder().build())
}

/// The answer's JSON and the parameters dropped.
async fn call(
    client: &ProviderClient,
    api: Api,
    body: &str,
) -> Result<(Value, Vec<Param>), ProviderError> {
    let res = client.send(api, Bytes::from(body.to_string())).await?;
    let dropped = res
        .extensions()
        .get::<DroppedParams>()
        .map(|d| d.0.clone())
        .unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Ok((serde_json::from_slice(&bytes).unwrap(), dropped))
}

async fn events(client: &ProviderClient, api: Api, body: &str) -> Vec<SseEvent> {
    let res = client
        .send(api, Bytes::from(body.to_string()))
        .await
        .unwrap();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let mut parser = SseParser::default();
    let mut out = Vec::new();
    parser.feed(&bytes, &mut out).unwrap();
    parser.finish(&mut out);
    out
}

fn data(e: &SseEvent) -> Value {
    serde_json::from_str(&e.data).unwrap_or(Value::Null)
}

// === refused or dropped, never silent ===

#[tokio::test]
async fn a_parameter_the_provider_lacks_is_refused_by_name() {
    let upstream = Upstream::start(vec![]).await;
    let client = client(endpoint("anthropic/claude-sonnet-4-5", &upstream));
    let body = r#"{"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]}"#;

    let err = call(&client, Api::ChatCompletions, body).await.unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.is_unsupported_params());
    assert_eq!(err.to_json()["error"]["code"], "unsupported_params");
    assert_eq!(
        err.message(),
        "anthropic does not support `n`; remove it, or set `drop_params: true` to drop what \
         the provider cannot honour"
    );
    assert_eq!(upstream.count(), 0, "nothing was sent upstream");
}

#[tokio::test]
async fn with_drop_params_the_parameter_is_dropped_and_reported() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        &fixture("anthropic_tool_response.json"),
    )])
    .await;
    let client = client(endpoint("anthropic/claude-sonnet-4-5", &upstream).with_drop_params(true));
    let body = r#"{"model":"m","n":2,"seed":1,"messages":[{"role":"user","content":"hi"}]}"#;

    let (_, dropped) = call(&client, Api::ChatCompletions, body).await.unwrap();
    assert_eq!(dropped, [Param::Seed, Param::N]);
    let sent = upstream.seen(0).json();
    assert!(
        sent.get("n").is_none() && sent.get("seed").is_none(),
        "{sent}"
    );
}

#[tokio::test]
async fn a_per_request_drop_params_is_honoured() {
    let upstream =
        Upstream::start(vec![reply_json(200, &fixture("ollama_chat_response.json"))]).await;
    let client = client(endpoint("ollama/llama3.2", &upstream));
    let body =
        r#"{"model":"m","drop_params":true,"n":2,"messages":[{"role":"user","content":"hi"}]}"#;
    let (_, dropped) = call(&client, Api::ChatCompletions, body).await.unwrap();
    assert_eq!(dropped, [Param::N]);
    assert!(upstream.seen(0).json().get("drop_params").is_none());
}

// === Gemini ===

#[tokio::test]
async fn strict_tools_schemas_and_sampling_reach_gemini_in_its_own_terms() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        &fixture("gemini_two_candidates_response.json"),
    )])
    .await;
    let client = client(endpoint("gemini/gemini-2.5-flash", &upstream));

    let (answer, _) = call(
        &client,
        Api::ChatCompletions,
        &fixture("openai_strict_tools_request.json"),
    )
    .await
    .unwrap();
    assert_eq!(
        upstream.seen(0).json(),
        serde_json::from_str::<Value>(&fixture("gemini_strict_tools_expected_request.json"))
            .unwrap()
    );
    // `n: 2` gives two choices.
    let texts: Vec<&str> = answer["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, [r#"{"ok": true}"#, r#"{"ok": false}"#]);
}

#[tokio::test]
async fn a_gemini_thought_signature_comes_back_with_its_call_next_turn() {
    let upstream = Upstream::start(vec![
        reply_json(200, &fixture("gemini_thought_signature_response.json")),
        reply_json(200, &fixture("gemini_response.json")),
    ])
    .await;
    let client = client(endpoint("gemini/gemini-3-pro-preview", &upstream));
    let turn1 = json!({"model": "m", "reasoning_effort": "high",
        "messages": [{"role": "user", "content": "Is AA100 on time?"}],
        "tools": [{"type": "function", "function": {"name": "check_flight", "parameters": {"type": "object"}}}]});

    let (answer, _) = call(&client, Api::ChatCompletions, &turn1.to_string())
        .await
        .unwrap();
    assert_eq!(
        upstream.seen(0).json()["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingLevel": "high"})
    );
    let message = &answer["choices"][0]["message"];
    assert_eq!(
        message["reasoning_content"],
        "**Checking the flight** I need the flight status first."
    );
    assert_eq!(
        answer["usage"]["completion_tokens_details"]["reasoning_tokens"],
        40
    );
    assert_eq!(
        answer["usage"]["prompt_tokens_details"]["cached_tokens"],
        20
    );
    let call_id = message["tool_calls"][0]["id"].as_str().unwrap().to_string();
    assert!(
        call_id.ends_with("__thought__Q2lNQ0FkcVNpZ25hdHVyZUE="),
        "{call_id}"
    );

    let turn2 = json!({"model": "m", "messages": [
        {"role": "user", "content": "Is AA100 on time?"},
        {"role": "assistant", "content": null, "tool_calls": message["tool_calls"]},
        {"role": "tool", "tool_call_id": call_id, "content": "{\"status\":\"delayed\"}"}
    ]});
    call(&client, Api::ChatCompletions, &turn2.to_string())
        .await
        .unwrap();
    let sent = upstream.seen(1).json();
    assert_eq!(
        sent["contents"][1]["parts"][0],
        json!({"functionCall": {"name": "check_flight", "args": {"flight": "AA100"}},
               "thoughtSignature": "Q2lNQ0FkcVNpZ25hdHVyZUE="})
    );
    assert_eq!(
        sent["contents"][2]["parts"][0],
        json!({"functionResponse": {"name": "check_flight", "response": {"status": "delayed"}}})
    );
}

#[tokio::test]
async fn gemini_tool_call_ids_differ_turn_to_turn() {
    let upstream = Upstream::start(vec![
        reply_json(200, &fixture("gemini_function_call_response.json")),
        reply_json(200, &fixture("gemini_function_call_response.json")),
    ])
    .await;
    let client = client(endpoint("gemini/gemini-2.0-flash", &upstream));
    let body = r#"{"model":"m","messages":[{"role":"user","content":"weather?"}]}"#;
    let (a, _) = call(&client, Api::ChatCompletions, body).await.unwrap();
    let (b, _) = call(&client, Api::ChatCompletions, body).await.unwrap();
    let id = |v: &Value| {
        v["choices"][0]["message"]["tool_calls"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_ne!(id(&a), id(&b));
    assert!(id(&a).starts_with("call_"));
}

// === Anthropic ===

#[tokio::test]
async fn structured_output_reasoning_and_cache_control_reach_anthropic() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        &fixture("anthropic_thinking_response.json"),
    )])
    .await;
    let client = client(endpoint("anthropic/claude-sonnet-4-5", &upstream));
    let body = json!({"model": "m", "max_tokens": 1000, "reasoning_effort": "medium", "parallel_tool_calls": false,
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}});

    let (answer, _) = call(&client, Api::ChatCompletions, &body.to_string())
        .await
        .unwrap();
    let sent = upstream.seen(0).json();
    assert_eq!(
        sent["system"],
        json!([{"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}])
    );
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    // The thinking budget must be below max_tokens: raised by the budget.
    assert_eq!(sent["max_tokens"], 3048);
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        sent["output_config"],
        json!({"format": {"type": "json_schema", "schema": {"type": "object"}}})
    );

    let message = &answer["choices"][0]["message"];
    assert_eq!(
        message["reasoning_content"],
        "The user wants the weather; I should call the tool."
    );
    assert_eq!(
        message["thinking_blocks"][0]["signature"],
        "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
    );
    assert_eq!(answer["usage"]["prompt_tokens"], 500);
    assert_eq!(
        answer["usage"]["prompt_tokens_details"]["cached_tokens"],
        100
    );
}

#[tokio::test]
async fn signed_thinking_blocks_go_back_to_anthropic_next_turn() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        &fixture("anthropic_tool_response.json"),
    )])
    .await;
    let client = client(endpoint("anthropic/claude-sonnet-4-5", &upstream));
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "Let me check.",
         "thinking_blocks": [{"type": "thinking", "thinking": "Call the tool.", "signature": "sig-1"}],
         "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"}]});
    call(&client, Api::ChatCompletions, &body.to_string())
        .await
        .unwrap();
    assert_eq!(
        upstream.seen(0).json()["messages"][1]["content"],
        json!([{"type": "thinking", "thinking": "Call the tool.", "signature": "sig-1"},
               {"type": "text", "text": "Let me check."},
               {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}}])
    );
}

#[tokio::test]
async fn anthropic_thinking_streams_as_reasoning_content() {
    let upstream = Upstream::start(vec![sse(
        &[&fixture("anthropic_thinking_stream.sse")],
        End::Close,
    )])
    .await;
    let client = client(endpoint("anthropic/claude-sonnet-4-5", &upstream));
    let body = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"reasoning_effort":"low","messages":[{"role":"user","content":"GCD?"}]}"#;
    let got = events(&client, Api::ChatCompletions, body).await;
    let reasoning: String = got
        .iter()
        .filter_map(|e| {
            data(e)["choices"][0]["delta"]["reasoning_content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(reasoning, "1071 = 2 × 462 + 147");
    assert!(got.iter().any(
        |e| data(e)["choices"][0]["delta"]["thinking_blocks"][0]["signature"] == "EqQBCgIYAhIMsig"
    ));
    let usage = got
        .iter()
        .find_map(|e| data(e).get("usage").cloned())
        .unwrap();
    assert_eq!(
        (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64()
        ),
        (Some(25), Some(30))
    );
    assert_eq!(got.last().unwrap().data, "[DONE]");
}

#[tokio::test]
async fn the_anthropic_beta_header_reaches_anthropic_on_the_native_path() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        &fixture("anthropic_tool_response.json"),
    )])
    .await;
    let client = client(endpoint("anthropic/claude-sonnet-4-5", &upstream));
    let body = Bytes::from_static(
        br#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("anthropic-beta", "context-1m-2025-08-07".parse().unwrap());
    headers.insert("x-unrelated", "no".parse().unwrap());
    let peeked = peek(&body).unwrap();
    client
        .send_with_headers(Api::Messages, body, &peeked, Some(&headers))
        .await
        .unwrap();
    let seen = upstream.seen(0);
    assert_eq!(seen.headers["anthropic-beta"], "context-1m-2025-08-07");
    assert!(seen.headers.get("x-unrelated").is_none());
}

// === Anthropic-format clients on other providers ===

#[tokio::test]
async fn messages_to_an_openai_reasoning_model_send_max_completion_tokens() {
    let upstream =
        Upstream::start(vec![reply_json(200, &fixture("openai_chat_response.json"))]).await;
    let client = client(endpoint("openai/o3-mini", &upstream));
    let body = r#"{"model":"m","max_tokens":100,"thinking":{"type":"enabled","budget_tokens":10000},"messages":[{"role":"user","content":"hi"}]}"#;
    call(&client, Api::Messages, body).await.unwrap();
    let sent = upstream.seen(0).json();
    assert_eq!(sent["max_completion_tokens"], 100);
    assert!(sent.get("max_tokens").is_none());
    assert_eq!(sent["reasoning_effort"], "high");
}

#[tokio::test]
async fn messages_streams_from_openai_carry_the_real_token_counts() {
    let upstream = Upstream::start(vec![sse(&[&fixture("openai_stream.sse")], End::Close)]).await;
    let client = client(endpoint("openai/gpt-4o-mini", &upstream));
    let body = r#"{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let got = events(&client, Api::Messages, body).await;
    let delta = got
        .iter()
        .find(|e| e.event.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(
        data(delta)["usage"],
        json!({"input_tokens": 9, "output_tokens": 2})
    );
}

#[tokio::test]
async fn messages_from_gemini_show_thinking_blocks_with_their_signature() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        &fixture("gemini_thought_signature_response.json"),
    )])
    .await;
    let client = client(endpoint("gemini/gemini-3-pro-preview", &upstream));
    let body = r#"{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"AA100?"}]}"#;
    let (answer, _) = call(&client, Api::Messages, body).await.unwrap();
    assert_eq!(answer["content"][0]["type"], "thinking");
    assert_eq!(answer["content"][1]["type"], "tool_use");
    assert_eq!(answer["content"][1]["input"], json!({"flight": "AA100"}));
    assert_eq!(answer["stop_reason"], "tool_use");
    assert_eq!(
        answer["usage"],
        json!({"input_tokens": 30, "output_tokens": 50, "cache_read_input_tokens": 20})
    );
}

// === Ollama ===

#[tokio::test]
async fn ollama_gets_tool_names_formats_and_think() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        &fixture("ollama_tool_call_response.json"),
    )])
    .await;
    let client = client(endpoint("ollama/llama3.2", &upstream));
    let body = json!({"model": "m", "reasoning_effort": "medium", "tool_choice": "none",
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Tokyo\"}"}}]},
            {"role": "tool", "tool_call_id": "call_a", "content": "11C"}]});
    let (answer, _) = call(&client, Api::ChatCompletions, &body.to_string())
        .await
        .unwrap();
    let sent = upstream.seen(0).json();
    assert_eq!(
        sent["messages"][2],
        json!({"role": "tool", "content": "11C", "tool_name": "get_weather"})
    );
    assert_eq!(
        sent["messages"][1]["tool_calls"][0]["function"]["arguments"],
        json!({"city": "Tokyo"})
    );
    assert_eq!(sent["format"], json!({"type": "object"}));
    assert_eq!(sent["think"], true);
    assert!(
        sent.get("tools").is_none(),
        "tool_choice none offers no tools"
    );
    let message = &answer["choices"][0]["message"];
    assert_eq!(
        message["reasoning_content"],
        "I should look up the weather."
    );
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        r#"{"city":"Tokyo"}"#
    );
    assert!(message["tool_calls"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("call_"));
}

#[tokio::test]
async fn ollama_refuses_an_image_by_url_instead_of_dropping_it() {
    let upstream = Upstream::start(vec![]).await;
    let client = client(endpoint("ollama/llava", &upstream));
    let body = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}"#;
    let err = call(&client, Api::ChatCompletions, body).await.unwrap_err();
    assert!(err.is_unsupported_params(), "{err}");
    assert!(
        err.message().contains("image_url (http)"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn an_image_in_a_tool_result_is_refused_where_tool_results_are_text() {
    let upstream = Upstream::start(vec![]).await;
    let client = client(endpoint("openai/gpt-4o", &upstream));
    let body = json!({"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "Screenshot?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "here"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]}]});
    let err = call(&client, Api::Messages, &body.to_string())
        .await
        .unwrap_err();
    assert!(
        err.message().contains("`tool result with media`"),
        "{}",
        err.message()
    );
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn gemini_log_probabilities_come_back_in_openais_shape() {
    let upstream = Upstream::start(vec![reply_json(
        200,
        &fixture("gemini_logprobs_response.json"),
    )])
    .await;
    let client = client(endpoint("gemini/gemini-2.5-flash", &upstream));
    let body = r#"{"model":"m","logprobs":true,"top_logprobs":2,"messages":[{"role":"user","content":"Yes or no?"}]}"#;
    let (answer, _) = call(&client, Api::ChatCompletions, body).await.unwrap();
    let config = &upstream.seen(0).json()["generationConfig"];
    assert_eq!(
        (
            config["responseLogprobs"].clone(),
            config["logprobs"].clone()
        ),
        (json!(true), json!(2))
    );
    let first = &answer["choices"][0]["logprobs"]["content"][0];
    assert_eq!(first["token"], "Yes");
    assert_eq!(first["logprob"], -0.01);
    assert_eq!(
        first["top_logprobs"][1],
        json!({"token": "No", "logprob": -4.6, "bytes": [78, 111]})
    );
}

#[tokio::test]
async fn ollama_streams_log_probabilities_in_openai_chunks() {
    let upstream = Upstream::start(vec![support::ndjson(
        &[&fixture("ollama_logprobs_stream.ndjson")],
        End::Close,
    )])
    .await;
    let client = client(endpoint("ollama/gemma3", &upstream));
    let body = r#"{"model":"m","stream":true,"logprobs":true,"top_logprobs":2,"messages":[{"role":"user","content":"hi"}]}"#;
    let got = events(&client, Api::ChatCompletions, body).await;
    let sent = upstream.seen(0).json();
    assert_eq!(
        (sent["logprobs"].clone(), sent["top_logprobs"].clone()),
        (json!(true), json!(2))
    );
    let lp = got
        .iter()
        .find_map(|e| data(e)["choices"][0].get("logprobs").cloned())
        .unwrap();
    assert_eq!(lp["content"][0]["token"], "Hi");
    assert_eq!(lp["content"][0]["top_logprobs"][1]["token"], "Hello");
}
