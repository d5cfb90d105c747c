//! STS `AssumeRole` (the query API: a signed form POST, an XML answer).

use std::time::{Duration, SystemTime};

use aws_smithy_types::date_time::{DateTime, Format};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::Full;

use super::{sign_request, AwsAuth, Credentials, DEFAULT_SESSION_NAME};
use crate::{HttpClient, ProviderError, Secret};

/// Largest STS answer read.
const MAX_STS_BODY: usize = 64 * 1024;
/// The session length asked for (STS's default, and the most a role allows by default).
const DURATION_SECONDS: u32 = 3600;

/// Assumes `role` with `keys`: the session's keys and how long they are valid for.
pub(super) async fn assume_role(
    http: &HttpClient,
    auth: &AwsAuth,
    keys: &Credentials,
    role: &str,
) -> Result<(Credentials, Duration), ProviderError> {
    let session = auth.session_name.as_deref().unwrap_or(DEFAULT_SESSION_NAME);
    let body = format!(
        "Action=AssumeRole&DurationSeconds={DURATION_SECONDS}&RoleArn={}&RoleSessionName={}&Version=2011-06-15",
        form_encode(role),
        form_encode(session)
    );
    let body = Bytes::from(body);
    let url = format!("{}/", auth.sts_url());
    let uri: http::Uri = url
        .parse()
        .map_err(|_| ProviderError::bad_gateway("invalid `aws_sts_endpoint` URL"))?;
    let mut req = Request::new(Full::new(body.clone()));
    *req.method_mut() = http::Method::POST;
    if let Some(host) = crate::client::host_header(&uri) {
        req.headers_mut().insert(HOST, host);
    }
    *req.uri_mut() = uri;
    req.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    sign_request(
        &mut req,
        &body,
        keys,
        &auth.region,
        "sts",
        SystemTime::now(),
    )?;
    let res = http.request(req).await.map_err(|e| {
        ProviderError::unreachable(
            format!("could not reach STS at {url} to assume `{role}`"),
            e,
        )
    })?;
    let status = res.status();
    let bytes = crate::body::read_limited(res.into_body(), MAX_STS_BODY)
        .await
        .map_err(|_| ProviderError::bad_gateway("STS sent an unreadable answer"))?;
    let text = String::from_utf8_lossy(&bytes);
    if !status.is_success() {
        let message = tag(&text, "Message").unwrap_or("no message");
        let code = tag(&text, "Code").unwrap_or("error");
        // The deployment's keys or role are wrong: the gateway's configuration, not
        // the client, must change.
        let status = match status {
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_GATEWAY,
        };
        return Err(ProviderError::new(
            status,
            format!("STS AssumeRole of `{role}` failed ({code}): {message}"),
        )
        .with_code("invalid_credentials"));
    }
    parse(&text).ok_or_else(|| {
        ProviderError::bad_gateway(format!(
            "STS AssumeRole of `{role}` sent no usable credentials"
        ))
    })
}

/// The credentials and their lifetime in an `AssumeRoleResponse`.
fn parse(xml: &str) -> Option<(Credentials, Duration)> {
    let creds = Credentials {
        access_key_id: tag(xml, "AccessKeyId")?.to_string(),
        secret_access_key: Secret::new(tag(xml, "SecretAccessKey")?),
        session_token: Some(Secret::new(tag(xml, "SessionToken")?)),
    };
    let expires = DateTime::from_str(tag(xml, "Expiration")?, Format::DateTime).ok()?;
    let expires = SystemTime::try_from(expires).ok()?;
    let valid_for = expires
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Some((creds, valid_for))
}

/// The text of the first `<name>…</name>` element. STS's values (key ids, keys,
/// base64 tokens, timestamps) hold no markup and no escapes.
fn tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..start + len].trim())
}

/// `application/x-www-form-urlencoded` as SigV4 wants it: unreserved bytes kept,
/// everything else `%XX`.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assume_role_answer_gives_the_sessions_keys() {
        let xml = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <SessionToken>FwoGZXIvYXdzEBYaDEXAMPLE+token==</SessionToken>
      <Expiration>2999-01-01T00:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
</AssumeRoleResponse>"#;
        let (creds, valid_for) = parse(xml).expect("parsed");
        assert_eq!(creds.access_key_id, "ASIAEXAMPLE");
        assert_eq!(
            creds.session_token.as_ref().map(Secret::expose),
            Some("FwoGZXIvYXdzEBYaDEXAMPLE+token==")
        );
        assert!(valid_for > Duration::from_secs(3600));
    }

    #[test]
    fn an_arn_is_form_encoded() {
        assert_eq!(
            form_encode("arn:aws:iam::123456789012:role/x y"),
            "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fx%20y"
        );
    }
}
