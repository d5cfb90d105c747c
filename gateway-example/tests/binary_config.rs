//! The real `gateway` binary on bad configs: every bad value exits 2 naming the
//! file, the key (with its line) and the problem, all of them in one run; a huge or
//! endless file is refused; `--check-config` lists the ignored LiteLLM settings and
//! a one-line summary.
#![allow(clippy::unwrap_used)] // test setup: a panic is the failure report

use std::time::Duration;

use tokio::process::Command;

const GATEWAY: &str = env!("CARGO_BIN_EXE_gateway");

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `--check-config` on `path` (bounded in time); returns exit code, stdout, stderr.
async fn check(path: &std::path::Path) -> (Option<i32>, String, String) {
    let run = Command::new(GATEWAY)
        .arg("--config")
        .arg(path)
        .arg("--check-config")
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("exits")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const MODELS: &str = "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n";

#[tokio::test]
async fn every_bad_value_exits_2_with_file_key_line_and_problem() {
    let cases = [
        (
            "server:\n  request_timeout_s: 1e300\n",
            "server.request_timeout_s",
            "at most",
        ),
        (
            "server:\n  header_read_timeout_s: 1e19\n",
            "server.header_read_timeout_s",
            "at most",
        ),
        (
            "server:\n  max_client_connections: 18446744073709551615\n",
            "server.max_client_connections",
            "whole number",
        ),
        (
            "pool:\n  max_connections_per_host: 18446744073709551615\n",
            "pool.max_connections_per_host",
            "whole number",
        ),
        (
            "limits:\n  max_queued: 18446744073709551615\n",
            "limits.max_queued",
            "whole number",
        ),
        (
            "cache:\n  client_ttl_s: 1e19\n",
            "cache.client_ttl_s",
            "at most",
        ),
        (
            "server:\n  master_key: \"\"\n",
            "server.master_key",
            "empty",
        ),
        (
            "general_settings:\n  master_key: \"\"\n",
            "general_settings.master_key",
            "empty",
        ),
    ];
    for (i, (section, key, problem)) in cases.iter().enumerate() {
        let name = format!("bad-{i}.yaml");
        let path = write_config(&name, &format!("{section}{MODELS}"));
        let (code, _, stderr) = check(&path).await;
        assert_eq!(code, Some(2), "{section}: {stderr}");
        let line = format!("{name}:2: `{key}`:");
        assert!(
            stderr.contains(&line) && stderr.contains(problem),
            "{section}: want `{line}` … {problem}:\n{stderr}"
        );
    }
    let path = write_config(
        "bad-base.yaml",
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      api_base: \"https://h.example/v1?key=1\"\n",
    );
    let (code, _, stderr) = check(&path).await;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("bad-base.yaml:5: `model_list[0].litellm_params.api_base`")
            && stderr.contains("query string"),
        "{stderr}"
    );
}

#[tokio::test]
async fn all_problems_are_printed_in_one_run() {
    let path = write_config(
        "many.yaml",
        "server: {listen: nowhere}\npool: {max_connections: 0}\nmodel_list:\n  - model_name: a\n    litellm_params: {model: claude-3-5-haiku-latest}\n  - model_name: b\n    litellm_params: {model: openai/x, api_key: sk, timeout: 1e19}\n",
    );
    let (code, _, stderr) = check(&path).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("4 problems"), "{stderr}");
    for key in [
        "server.listen",
        "pool.max_connections",
        "model_list[0].litellm_params.model",
        "model_list[1].litellm_params.timeout",
    ] {
        assert!(
            stderr.contains(&format!("`{key}`")),
            "{key} missing:\n{stderr}"
        );
    }
    assert!(stderr.contains("ANTHROPIC_API_KEY"), "{stderr}");
}

#[tokio::test]
async fn an_endless_config_file_is_refused_not_read_forever() {
    let (code, _, stderr) = check(std::path::Path::new("/dev/zero")).await;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("larger than"),
        "{stderr}"
    );
}

#[tokio::test]
async fn check_config_lists_ignored_settings_and_a_summary() {
    let path = write_config(
        "litellm.yaml",
        "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a, organization: org-x}\n  - model_name: \"openai/*\"\n    litellm_params: {model: \"openai/*\", api_key: sk-x}\nlitellm_settings: {drop_params: true, success_callback: [langfuse]}\nguardrails: []\n",
    );
    let (code, stdout, stderr) = check(&path).await;
    assert_eq!(code, Some(0), "{stderr}");
    for line in [
        "ignored (accepted, not used by this gateway):",
        "  (top level): guardrails",
        "  litellm_settings: success_callback",
        "  model_list[].litellm_params: organization",
    ] {
        assert!(stdout.contains(line), "`{line}` missing:\n{stdout}");
    }
    assert!(
        stdout.contains("ok: 1 deployments of 1 models, 1 wildcard routes (serving a, openai/*); 3 LiteLLM keys ignored"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_ignored_settings_are_listed_once_at_start() {
    let path = write_config(
        "start.yaml",
        "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a, organization: org-x}\n  - model_name: b\n    litellm_params: {model: mock/b, organization: org-y}\nlitellm_settings: {drop_params: true, set_verbose: false}\nmcp_servers: {}\n",
    );
    let (stdout, stderr) = start_and_stop(&path, &[]).await;
    assert_eq!(stdout, "", "nothing on stdout");
    for line in [
        "(top level): mcp_servers",
        "litellm_settings: set_verbose",
        "model_list[].litellm_params: organization (×2)",
    ] {
        assert_eq!(stderr.matches(line).count(), 1, "`{line}` once:\n{stderr}");
    }
}

/// Starts the binary with `config` and `args`, waits for its startup line on stderr,
/// stops it; returns all it wrote to stdout and to stderr.
async fn start_and_stop(config: &std::path::Path, args: &[&str]) -> (String, String) {
    start_send_stop(config, args, None).await
}

/// [`start_and_stop`], sending `request` (raw HTTP/1.1) once it listens and reading
/// the answer to its end before stopping it.
async fn start_send_stop(
    config: &std::path::Path,
    args: &[&str],
    request: Option<&str>,
) -> (String, String) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let mut child = Command::new(GATEWAY)
        .arg("--config")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut stderr = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            stderr.push_str(&line);
            stderr.push('\n');
            if let Some(at) = line.find("gateway listening on http://") {
                let rest = &line[at + "gateway listening on http://".len()..];
                let addr = rest.split(|c: char| c.is_whitespace() || c == '"').next();
                if let (Some(request), Some(addr)) = (request, addr) {
                    use tokio::io::AsyncWriteExt;
                    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
                    socket.write_all(request.as_bytes()).await.unwrap();
                    let mut answer = String::new();
                    socket.read_to_string(&mut answer).await.unwrap();
                    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
                    // The line is written as the response ends; give it a moment.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                return;
            }
        }
        panic!("no startup line:\n{stderr}");
    })
    .await
    .unwrap();
    child.start_kill().unwrap();
    let rest = async {
        while let Some(line) = lines.next_line().await.unwrap_or(None) {
            stderr.push_str(&line);
            stderr.push('\n');
        }
    };
    tokio::time::timeout(Duration::from_secs(10), rest)
        .await
        .unwrap();
    let mut stdout = String::new();
    let mut pipe = child.stdout.take().unwrap();
    tokio::time::timeout(Duration::from_secs(10), pipe.read_to_string(&mut stdout))
        .await
        .unwrap()
        .unwrap();
    (stdout, stderr)
}

#[tokio::test]
async fn json_logs_are_json_lines_on_stderr_only_with_a_startup_summary() {
    let path = write_config(
        "json-logs.yaml",
        "server: {workers: 2}\nmodel_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n  - model_name: b\n    litellm_params: {model: mock/b}\n",
    );
    let (stdout, stderr) = start_and_stop(&path, &["--log-format", "json"]).await;
    assert_eq!(stdout, "", "nothing on stdout");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let start = lines
        .iter()
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("gateway listening on http://127.0.0.1:"))
        })
        .unwrap_or_else(|| panic!("no startup line in {stderr}"));
    let fields = &start["fields"];
    assert_eq!(fields["workers"], 2);
    assert_eq!(fields["models"], "a,b");
    assert!(fields["config"]
        .as_str()
        .unwrap()
        .ends_with("json-logs.yaml"));
    assert!(fields["version"]
        .as_str()
        .unwrap()
        .starts_with(env!("CARGO_PKG_VERSION")));
}

/// A chat request to model `a`, closing the connection after the answer.
const CHAT: &str = "POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\nx-request-id: req-42\r\nconnection: close\r\ncontent-length: 57\r\n\r\n{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

#[tokio::test]
async fn each_request_gets_one_info_line_unless_log_requests_is_off() {
    let on = write_config(
        "log-on.yaml",
        "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n",
    );
    let (_, stderr) = start_send_stop(&on, &["--log-format", "json"], Some(CHAT)).await;
    let requests: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["target"] == "gateway_example::request")
        .collect();
    assert_eq!(requests.len(), 1, "{stderr}");
    let line = &requests[0];
    assert_eq!(line["level"], "INFO");
    let f = &line["fields"];
    assert_eq!(
        (
            &f["method"],
            &f["route"],
            &f["model"],
            &f["status"],
            &f["outcome"],
            &f["request_id"]
        ),
        (
            &"POST".into(),
            &"/v1/chat/completions".into(),
            &"a".into(),
            &200.into(),
            &"completed".into(),
            &"req-42".into()
        )
    );
    assert!(
        f["ms"].as_f64().is_some() && f["upstream_ms"].as_f64().is_some(),
        "{line}"
    );

    let off = write_config(
        "log-off.yaml",
        "server: {log_requests: false}\nmodel_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n",
    );
    let (_, stderr) = start_send_stop(&off, &["--log-format", "json"], Some(CHAT)).await;
    assert!(!stderr.contains("gateway_example::request"), "{stderr}");
}
