//! Every provider added for real LiteLLM configs, end to end through the gateway on
//! loopback: Bedrock (keys from `litellm_params` with `os.environ/`, else the `AWS_*`
//! variables; signed requests; Converse translated), and each OpenAI-compatible prefix
//! of the long tail (its URL and bearer key); each passes `gateway --check-config`;
//! unknown providers stay an error that points to `openai_compatible`.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use gateway_example::config::Config;
use gateway_example::Gateway;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use support::{json as reply_json, Upstream};

/// The long tail: prefix, and the path under `api_base` a chat request goes to.
const COMPATIBLE: &[&str] = &[
    "azure_ai",
    "huggingface",
    "nvidia_nim",
    "perplexity",
    "databricks",
    "custom_openai",
    "litellm_proxy",
    "cohere",
    "cerebras",
    "sambanova",
    "deepinfra",
    "github",
    "dashscope",
    "moonshot",
    "ai21",
    "nebius",
    "novita",
    "hyperbolic",
    "friendliai",
    "nscale",
    "featherless_ai",
    "codestral",
    "llamafile",
];

const OPENAI_CHAT: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

const CONVERSE: &str = r#"{"output":{"message":{"role":"assistant","content":[{"text":"Hello from Bedrock"}]}},"stopReason":"end_turn","usage":{"inputTokens":5,"outputTokens":3,"totalTokens":8}}"#;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

async fn chat(gateway: &Gateway, model: &str) -> (u16, Value) {
    let client: pool_layer::Client<Full<Bytes>> = pool_layer::Client::builder().build();
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{}/v1/chat/completions", gateway.addr()))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .expect("answered in time")
        .unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

fn long_tail_yaml(upstream: &Upstream) -> String {
    let mut yaml = String::from("model_list:\n");
    for prefix in COMPATIBLE {
        yaml.push_str(&format!(
            "  - model_name: {prefix}-model\n    litellm_params: {{model: \"{prefix}/org/some-model\", api_base: \"{}/v1\", api_key: sk-{prefix}}}\n",
            upstream.base()
        ));
    }
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_openai_compatible_provider_gets_one_chat_request_with_its_key() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(reply_json(200, OPENAI_CHAT));
    let config = Config::parse_with_env(&long_tail_yaml(&upstream), "t.yaml", &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = Gateway::start(config, listener).await.unwrap();
    for (i, prefix) in COMPATIBLE.iter().enumerate() {
        let (status, answer) = chat(&gateway, &format!("{prefix}-model")).await;
        assert_eq!(status, 200, "{prefix}: {answer}");
        assert_eq!(answer["choices"][0]["message"]["content"], "hi");
        let seen = upstream.seen(i);
        assert_eq!(seen.path_and_query, "/v1/chat/completions", "{prefix}");
        assert_eq!(
            seen.headers["authorization"],
            format!("Bearer sk-{prefix}"),
            "{prefix}"
        );
        assert_eq!(seen.json()["model"], "org/some-model", "{prefix}");
    }
}

fn bedrock_yaml(upstream: &Upstream) -> String {
    format!(
        "model_list:\n\
         \x20 - model_name: claude-bedrock\n\
         \x20   litellm_params:\n\
         \x20     model: bedrock/anthropic.claude-3-5-haiku-20241022-v1:0\n\
         \x20     aws_access_key_id: os.environ/MY_AWS_KEY\n\
         \x20     aws_secret_access_key: os.environ/MY_AWS_SECRET\n\
         \x20     aws_region_name: us-west-2\n\
         \x20     aws_bedrock_runtime_endpoint: \"{base}\"\n\
         \x20 - model_name: llama-bedrock\n\
         \x20   litellm_params:\n\
         \x20     model: bedrock/converse/us.meta.llama3-2-1b-instruct-v1:0\n\
         \x20     api_base: \"{base}\"\n",
        base = upstream.base()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_deployments_sign_with_their_own_keys_or_the_aws_environment() {
    let upstream = Upstream::start(vec![]).await;
    upstream.always(reply_json(200, CONVERSE));
    let vars = env(&[
        ("MY_AWS_KEY", "AKIAFROMPARAMS"),
        ("MY_AWS_SECRET", "secret-from-params"),
        ("AWS_ACCESS_KEY_ID", "AKIAFROMENV"),
        ("AWS_SECRET_ACCESS_KEY", "secret-from-env"),
        ("AWS_SESSION_TOKEN", "token-from-env"),
        ("AWS_REGION", "eu-central-1"),
    ]);
    let config = Config::parse_with_env(&bedrock_yaml(&upstream), "t.yaml", &vars)
        .unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = Gateway::start(config, listener).await.unwrap();

    let (status, answer) = chat(&gateway, "claude-bedrock").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from Bedrock"
    );
    assert_eq!(answer["usage"]["total_tokens"], 8);
    let seen = upstream.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    );
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(
        auth.contains("Credential=AKIAFROMPARAMS/") && auth.contains("/us-west-2/bedrock/"),
        "{auth}"
    );
    assert!(
        !seen.headers.contains_key("x-amz-security-token"),
        "the env token does not go with the deployment's keys"
    );

    let (status, _) = chat(&gateway, "llama-bedrock").await;
    assert_eq!(status, 200);
    let seen = upstream.seen(1);
    assert_eq!(
        seen.path_and_query,
        "/model/us.meta.llama3-2-1b-instruct-v1%3A0/converse"
    );
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(
        auth.contains("Credential=AKIAFROMENV/") && auth.contains("/eu-central-1/bedrock/"),
        "{auth}"
    );
    assert_eq!(seen.headers["x-amz-security-token"], "token-from-env");
}

#[test]
fn a_bedrock_deployment_without_keys_names_the_keys_and_variables() {
    let yaml = "model_list:\n  - model_name: b\n    litellm_params: {model: bedrock/amazon.nova-lite-v1:0, aws_region_name: us-east-1}\n";
    let err = Config::parse_with_env(yaml, "t.yaml", &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("aws_access_key_id") && err.contains("AWS_ACCESS_KEY_ID"),
        "{err}"
    );
    let yaml = "model_list:\n  - model_name: b\n    litellm_params: {model: bedrock/amazon.nova-lite-v1:0, aws_access_key_id: a, aws_secret_access_key: s}\n";
    let err = Config::parse_with_env(yaml, "t.yaml", &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("aws_region_name") && err.contains("AWS_REGION"),
        "{err}"
    );
}

#[test]
fn a_provider_without_a_public_api_needs_api_base() {
    for prefix in ["databricks", "azure_ai", "litellm_proxy", "custom_openai"] {
        let yaml = format!("model_list:\n  - model_name: m\n    litellm_params: {{model: {prefix}/x, api_key: k}}\n");
        let err = Config::parse_with_env(&yaml, "t.yaml", &|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs `api_base`"), "{prefix}: {err}");
    }
}

#[test]
fn an_unknown_provider_lists_the_supported_ones_and_the_escape_hatch() {
    let yaml = "model_list:\n  - model_name: m\n    litellm_params: {model: made_up_cloud/x, api_key: k}\n";
    let err = Config::parse_with_env(yaml, "t.yaml", &|_| None)
        .unwrap_err()
        .to_string();
    for part in [
        "unknown provider `made_up_cloud`",
        "bedrock",
        "perplexity",
        "`openai_compatible/MODEL` with `api_base`",
    ] {
        assert!(err.contains(part), "`{part}` missing: {err}");
    }
}

const WATSONX_CHAT: &str = r#"{"id":"chatcmpl-wx","model_id":"ibm/granite-3-8b-instruct","model":"ibm/granite-3-8b-instruct","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from watsonx"},"finish_reason":"stop"}],"created":1728806199,"usage":{"completion_tokens":3,"prompt_tokens":4,"total_tokens":7}}"#;

fn watsonx_yaml(upstream: &Upstream) -> String {
    format!(
        "model_list:\n\
         \x20 - model_name: granite\n\
         \x20   litellm_params:\n\
         \x20     model: watsonx/ibm/granite-3-8b-instruct\n\
         \x20     api_key: os.environ/MY_IBM_KEY\n\
         \x20     project_id: proj-gw\n\
         \x20     api_base: \"{base}\"\n\
         \x20 - model_name: granite-env\n\
         \x20   litellm_params:\n\
         \x20     model: watsonx/ibm/granite-3-2b-instruct\n",
        base = upstream.base()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watsonx_deployments_exchange_their_key_at_iam_or_use_the_environments_token() {
    let iam = Upstream::start(vec![reply_json(
        200,
        r#"{"access_token":"iam.gw","refresh_token":"not_supported","token_type":"Bearer","expires_in":3600,"expiration":1700003600}"#,
    )])
    .await;
    let wx = Upstream::start(vec![]).await;
    wx.always(reply_json(200, WATSONX_CHAT));
    let iam_url = format!("{}/identity/token", iam.base());
    let base = wx.base();
    let vars = env(&[
        ("MY_IBM_KEY", "ibm-key-1"),
        ("WATSONX_IAM_URL", iam_url.as_str()),
        ("WATSONX_URL", base.as_str()),
        ("WATSONX_TOKEN", "env-bearer"),
        ("WATSONX_DEPLOYMENT_SPACE_ID", "space-env"),
    ]);
    let config = Config::parse_with_env(&watsonx_yaml(&wx), "t.yaml", &vars)
        .unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = Gateway::start(config, listener).await.unwrap();

    let (status, answer) = chat(&gateway, "granite").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from watsonx"
    );
    let seen = wx.seen(0);
    assert_eq!(seen.path_and_query, "/ml/v1/text/chat?version=2024-03-13");
    assert_eq!(seen.headers["authorization"], "Bearer iam.gw");
    assert_eq!(seen.json()["project_id"], "proj-gw");
    assert_eq!(
        String::from_utf8(iam.seen(0).body.to_vec()).unwrap(),
        "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey=ibm-key-1"
    );

    let (status, _) = chat(&gateway, "granite-env").await;
    assert_eq!(status, 200);
    let seen = wx.seen(1);
    assert_eq!(seen.headers["authorization"], "Bearer env-bearer");
    assert_eq!(seen.json()["space_id"], "space-env");
    assert_eq!(seen.json()["model_id"], "ibm/granite-3-2b-instruct");
    assert_eq!(iam.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sagemaker_chat_deployment_signs_for_sagemaker_with_its_keys() {
    let upstream = Upstream::start(vec![reply_json(200, OPENAI_CHAT)]).await;
    let yaml = format!(
        "model_list:\n  - model_name: tgi\n    litellm_params: {{model: sagemaker_chat/my-tgi-endpoint, aws_access_key_id: os.environ/SM_KEY, aws_secret_access_key: os.environ/SM_SECRET, aws_region_name: eu-west-1, api_base: \"{}\"}}\n",
        upstream.base()
    );
    let vars = env(&[("SM_KEY", "AKIASAGEMAKER"), ("SM_SECRET", "sm-secret")]);
    let config = Config::parse_with_env(&yaml, "t.yaml", &vars).unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = Gateway::start(config, listener).await.unwrap();
    let (status, answer) = chat(&gateway, "tgi").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], "hi");
    let seen = upstream.seen(0);
    assert_eq!(
        seen.path_and_query,
        "/endpoints/my-tgi-endpoint/invocations"
    );
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(
        auth.contains("Credential=AKIASAGEMAKER/") && auth.contains("/eu-west-1/sagemaker/"),
        "{auth}"
    );
}

#[test]
fn the_legacy_sagemaker_prefix_is_a_config_error_naming_sagemaker_chat() {
    let yaml = "model_list:\n  - model_name: s\n    litellm_params: {model: sagemaker/my-endpoint, aws_region_name: us-east-1}\n";
    let err = Config::parse_with_env(yaml, "t.yaml", &|_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sagemaker_chat/my-endpoint"), "{err}");
}

#[test]
fn a_watsonx_deployment_without_a_project_names_the_keys_and_variables() {
    let yaml = "model_list:\n  - model_name: w\n    litellm_params: {model: watsonx/ibm/granite-3-8b-instruct, api_key: k, api_base: \"https://us-south.ml.cloud.ibm.com\"}\n";
    let err = Config::parse_with_env(yaml, "t.yaml", &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("project_id") && err.contains("WATSONX_PROJECT_ID"),
        "{err}"
    );
}

#[tokio::test]
async fn every_new_provider_passes_check_config() {
    let upstream = Upstream::start(vec![]).await;
    let yaml = format!(
        "{}{}",
        long_tail_yaml(&upstream),
        bedrock_yaml(&upstream)
            .trim_start_matches("model_list:\n")
            .replace("os.environ/MY_AWS_KEY", "AKIAEXAMPLE")
            .replace("os.environ/MY_AWS_SECRET", "secret")
            .replace("api_base: ", "aws_region_name: us-east-1\n      aws_access_key_id: AKIA2\n      aws_secret_access_key: s2\n      api_base: ")
    );
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../provider-adapters/tests/fixtures/vertex_service_account.json"
    );
    let yaml = format!(
        "{yaml}  - model_name: vertex-sa\n    litellm_params: {{model: vertex_ai/claude-3-5-haiku@20241022, vertex_credentials: \"{key}\"}}\n\
         \x20 - model_name: granite\n    litellm_params: {{model: watsonx/ibm/granite-3-8b-instruct, api_key: k, project_id: p, api_base: \"https://us-south.ml.cloud.ibm.com\"}}\n\
         \x20 - model_name: tgi\n    litellm_params: {{model: sagemaker_chat/my-tgi-endpoint, aws_access_key_id: AKIA3, aws_secret_access_key: s3, aws_region_name: us-east-1}}\n"
    );
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("providers.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("--config")
        .arg(&path)
        .arg("--check-config")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("exits")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = COMPATIBLE.len() + 5;
    assert!(
        stdout.contains(&format!("ok: {n} deployments of {n} models")),
        "{stdout}"
    );
}

/// The test service account's key file with its token endpoint at `tokens`.
fn key_file(tokens: &Upstream) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../provider-adapters/tests/fixtures/vertex_service_account.json"
    );
    let mut file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file["token_uri"] = json!(format!("{}/token", tokens.base()));
    file.to_string()
}

const GEMINI: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello from Vertex"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}}"#;
const CLAUDE: &str = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hello from Claude"}],"stop_reason":"end_turn","usage":{"input_tokens":2,"output_tokens":2}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_credentials_from_a_file_or_inline_json_authenticate_gemini_and_claude() {
    let tokens = Upstream::start(vec![]).await;
    tokens.always(reply_json(
        200,
        r#"{"access_token":"ya29.gw","expires_in":3600,"token_type":"Bearer"}"#,
    ));
    let vertex = Upstream::start(vec![reply_json(200, GEMINI), reply_json(200, CLAUDE)]).await;
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sa.json");
    std::fs::write(&path, key_file(&tokens)).unwrap();
    let yaml = format!(
        "model_list:\n\
         \x20 - model_name: gemini\n\
         \x20   litellm_params: {{model: vertex_ai/gemini-2.0-flash, vertex_credentials: \"{}\", vertex_location: us-east5, api_base: \"{base}\"}}\n\
         \x20 - model_name: claude\n\
         \x20   litellm_params: {{model: vertex_ai/claude-3-5-haiku@20241022, vertex_credentials: os.environ/VERTEX_SA_JSON, vertex_project: other-project, api_base: \"{base}\"}}\n",
        path.display(),
        base = vertex.base()
    );
    let json = key_file(&tokens);
    let vars = env(&[("VERTEX_SA_JSON", json.as_str())]);
    let config = Config::parse_with_env(&yaml, "t.yaml", &vars).unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = Gateway::start(config, listener).await.unwrap();

    let (status, answer) = chat(&gateway, "gemini").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from Vertex"
    );
    let seen = vertex.seen(0);
    // The project comes from the key file when the deployment names none.
    assert_eq!(
        seen.path_and_query,
        "/v1/projects/test-project/locations/us-east5/publishers/google/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(seen.headers["authorization"], "Bearer ya29.gw");

    let (status, answer) = chat(&gateway, "claude").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from Claude"
    );
    let seen = vertex.seen(1);
    assert!(seen.path_and_query.starts_with("/v1/projects/other-project/locations/us-central1/publishers/anthropic/models/claude-3-5-haiku@20241022:rawPredict"), "{}", seen.path_and_query);
    assert_eq!(seen.headers["authorization"], "Bearer ya29.gw");
}

#[test]
fn a_bad_vertex_credentials_value_is_a_config_error_at_its_key() {
    for (value, problem) in [
        ("/nonexistent/sa.json", "cannot read the key file"),
        (
            "'{\"type\": \"service_account\"}'",
            "not a service-account key file",
        ),
    ] {
        let yaml = format!("model_list:\n  - model_name: g\n    litellm_params: {{model: vertex_ai/gemini-2.0-flash, vertex_project: p, vertex_credentials: {value}}}\n");
        let err = Config::parse_with_env(&yaml, "t.yaml", &|_| None).unwrap_err();
        let at = err
            .at("model_list[0].litellm_params.vertex_credentials")
            .unwrap_or_else(|| panic!("{err}"));
        assert!(at.problem.contains(problem), "{at}");
    }
}
