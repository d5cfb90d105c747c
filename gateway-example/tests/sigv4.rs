//! The gateway's SigV4 signatures (aws-sigv4, as the Bedrock adapter applies it) checked
//! against botocore's `SigV4Auth`, an independent implementation, at fixed signing
//! times: with and without a session token, an escaped model ARN in the path, a
//! signing time years from the real clock (skew), and AWS's published `get-vanilla`
//! test vector.
//!
//! Uses the Python in `GATEWAY_SDK_PYTHON` (`.ci/run` sets it to a venv with
//! `tests/sdk/requirements.txt`, botocore pinned there), or makes the same venv under
//! the target directory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test setup: a panic is the failure report

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use provider_adapters::aws::{sign_request, Credentials};
use provider_adapters::Secret;
use serde_json::{json, Value};

#[path = "support/python.rs"]
mod python_support;
use python_support::{python, sdk_dir};

struct Case {
    method: &'static str,
    url: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
    token: Option<&'static str>,
    region: &'static str,
    service: &'static str,
    /// Seconds since the epoch, and the same as `YYYYMMDDTHHMMSSZ`.
    time: (u64, &'static str),
}

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

fn cases() -> Vec<Case> {
    let converse = r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
    vec![
        // AWS's published `get-vanilla` case.
        Case {
            method: "GET",
            url: "https://example.amazonaws.com/",
            headers: vec![("host", "example.amazonaws.com")],
            body: "",
            token: None,
            region: "us-east-1",
            service: "service",
            time: (1_440_938_160, "20150830T123600Z"),
        },
        // A Converse call with temporary keys.
        Case {
            method: "POST",
            url: "https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse",
            headers: vec![
                ("host", "bedrock-runtime.us-west-2.amazonaws.com"),
                ("content-type", "application/json"),
            ],
            body: converse,
            token: Some(TOKEN),
            region: "us-west-2",
            service: "bedrock",
            time: (1_796_173_200, "20261202T010000Z"),
        },
        // An inference-profile ARN (escaped `:` and `/`), long keys, a leap day.
        Case {
            method: "POST",
            url: "https://bedrock-runtime.eu-central-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aeu-central-1%3A123456789012%3Ainference-profile%2Feu.meta.llama3-2-1b-instruct-v1%3A0/converse-stream",
            headers: vec![
                ("host", "bedrock-runtime.eu-central-1.amazonaws.com"),
                ("content-type", "application/json"),
            ],
            body: converse,
            token: None,
            region: "eu-central-1",
            service: "bedrock",
            time: (1_709_251_199, "20240229T235959Z"),
        },
        // An STS AssumeRole form POST (the session's source).
        Case {
            method: "POST",
            url: "https://sts.us-east-1.amazonaws.com/",
            headers: vec![
                ("host", "sts.us-east-1.amazonaws.com"),
                ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
            ],
            body: "Action=AssumeRole&DurationSeconds=3600&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=gw&Version=2011-06-15",
            token: Some("short-token"),
            region: "us-east-1",
            service: "sts",
            time: (1_796_173_200, "20261202T010000Z"),
        },
    ]
}

/// The gateway's `Authorization` header for `case`.
fn ours(case: &Case) -> String {
    let mut req = http::Request::builder().method(case.method).uri(case.url);
    for (name, value) in &case.headers {
        req = req.header(*name, *value);
    }
    let mut req = req.body(()).unwrap();
    let creds = Credentials {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: Secret::new(SECRET_KEY),
        session_token: case.token.map(Secret::new),
    };
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(case.time.0);
    sign_request(
        &mut req,
        case.body.as_bytes(),
        &creds,
        case.region,
        case.service,
        time,
    )
    .unwrap();
    assert_eq!(req.headers()["x-amz-date"], case.time.1);
    if let Some(token) = case.token {
        assert_eq!(req.headers()["x-amz-security-token"], token);
    }
    req.headers()["authorization"].to_str().unwrap().to_string()
}

fn signature(authorization: &str) -> &str {
    authorization.rsplit_once("Signature=").unwrap().1
}

#[test]
fn the_published_get_vanilla_vector_is_signed_as_aws_documents() {
    let auth = ours(&cases()[0]);
    assert_eq!(
        auth,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

#[test]
fn botocore_computes_the_same_signatures() {
    let cases = cases();
    let input: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({
                "method": c.method, "url": c.url, "body": c.body,
                "headers": c.headers.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "token": c.token,
                "region": c.region, "service": c.service, "timestamp": c.time.1,
            })
        })
        .collect();
    let mut child = Command::new(python())
        .arg(sdk_dir().join("sigv4_check.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        Value::from(input).to_string().as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "botocore script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs.len(), cases.len());
    for (case, theirs) in cases.iter().zip(&theirs) {
        let auth = ours(case);
        assert_eq!(
            signature(&auth),
            theirs["signature"].as_str().unwrap(),
            "{} {}: ours {auth}\nbotocore's canonical request:\n{}",
            case.method,
            case.url,
            theirs["canonical_request"].as_str().unwrap()
        );
        assert!(
            auth.contains(&format!(
                "SignedHeaders={},",
                theirs["signed_headers"].as_str().unwrap()
            )),
            "{auth} vs {}",
            theirs["signed_headers"]
        );
    }
}
