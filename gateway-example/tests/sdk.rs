//! The official `openai` and `anthropic` Python SDKs as real clients of the gateway.
//!
//! Uses the Python in `GATEWAY_SDK_PYTHON` (`.ci/run` sets it to a venv it made), or
//! makes a venv under the target directory with `tests/sdk/requirements.txt` from PyPI.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test setup: a panic is the failure report

use std::time::Duration;

use gateway_example::config::{Config, DEMO};
use gateway_example::Gateway;

mod sdk_support;

#[path = "support/python.rs"]
mod python_support;
use python_support::{python, sdk_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdks_work_against_the_gateway() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    // The demo's mock models, plus a fake Anthropic (translated for the Responses
    // API, native for count_tokens) and a fake OpenAI Responses API (passed through).
    let (anthropic, openai) = sdk_support::start().await;
    let yaml = format!(
        "{DEMO}  - model_name: claude-fake\n    litellm_params: {{model: anthropic/claude-3-5-haiku-latest, api_base: \"http://{anthropic}\", api_key: sk-fake-ant}}\n  - model_name: gpt-native\n    litellm_params: {{model: openai/gpt-4o, api_base: \"http://{openai}/v1\", api_key: sk-fake-oai}}\n"
    );
    let mut config = Config::parse(&yaml, "<demo + fakes>").unwrap();
    config.server.master_key = Some(provider_adapters::Secret::new("sk-gateway-sdk-test"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = Gateway::start(config, listener).await.unwrap();

    let run = tokio::process::Command::new(&python)
        .arg(sdk_dir().join("sdk_test.py"))
        .env("GATEWAY_URL", format!("http://{}", gateway.addr()))
        .env("GATEWAY_KEY", "sk-gateway-sdk-test")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the SDK script finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("sdk: 41 passed, 0 failed"), "{stdout}");
    gateway.shutdown().await;
}

#[path = "../../provider-adapters/tests/support/mod.rs"]
mod support;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../provider-adapters/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdks_reassemble_tool_calls_streamed_from_other_providers() {
    use support::{ndjson, sse, End, Reply, Upstream};
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    // Each fake provider streams tool calls in its own wire format, to every request.
    let anthropic = Upstream::start(vec![]).await;
    anthropic.always(sse(&[&fixture("anthropic_tool_stream.sse")], End::Close));
    let gemini = Upstream::start(vec![]).await;
    gemini.always(sse(&[&fixture("gemini_tool_stream.sse")], End::Close));
    let ollama = Upstream::start(vec![]).await;
    ollama.always(ndjson(&[&fixture("ollama_tool_stream.ndjson")], End::Close));
    let bedrock = Upstream::start(vec![]).await;
    let frames = std::fs::read(format!(
        "{}/../provider-adapters/tests/fixtures/bedrock_tool_stream.eventstream",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    bedrock.always(Reply::Stream {
        content_type: "application/vnd.amazon.eventstream",
        // Cut mid-frame, as a network may deliver them.
        chunks: frames
            .chunks(100)
            .map(bytes::Bytes::copy_from_slice)
            .collect(),
        end: End::Close,
    });
    let yaml = format!(
        "model_list:\n  \
         - {{model_name: claude-tools, litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: \"{}\", api_key: k}}}}\n  \
         - {{model_name: gemini-tools, litellm_params: {{model: gemini/gemini-2.5-flash, api_base: \"{}\", api_key: k}}}}\n  \
         - {{model_name: ollama-tools, litellm_params: {{model: ollama/llama3.2, api_base: \"{}\"}}}}\n  \
         - {{model_name: bedrock-tools, litellm_params: {{model: bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0, api_base: \"{}\", aws_access_key_id: AKIDEXAMPLE, aws_secret_access_key: secret, aws_region_name: us-east-1}}}}\n",
        anthropic.base(),
        gemini.base(),
        ollama.base(),
        bedrock.base()
    );
    let mut config = Config::parse(&yaml, "tools.yaml").unwrap();
    config.server.master_key = Some(provider_adapters::Secret::new("sk-gateway-sdk-test"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = Gateway::start(config, listener).await.unwrap();

    let run = tokio::process::Command::new(&python)
        .arg(sdk_dir().join("sdk_tools_test.py"))
        .env("GATEWAY_URL", format!("http://{}", gateway.addr()))
        .env("GATEWAY_KEY", "sk-gateway-sdk-test")
        .env(
            "GATEWAY_TOOL_MODELS",
            "claude-tools=San Francisco, CA;gemini-tools=Paris, FR|Tokyo, JP;ollama-tools=Paris, FR;bedrock-tools=Seattle, WA",
        )
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the SDK script finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK checks failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("sdk tools: 20 passed, 0 failed"),
        "{stdout}"
    );
    gateway.shutdown().await;
}
