//! SigV4 signing of one request, by the `aws-sigv4` crate (headers, not query).

use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;

use super::Credentials;
use crate::ProviderError;

/// Signs `req` (whose body is `body`) for `service` in `region` at `time`: adds
/// `x-amz-date`, `x-amz-security-token` for temporary keys, and `authorization`
/// (marked sensitive). Every header already on the request is signed, so add them all
/// first.
pub fn sign_request<B>(
    req: &mut http::Request<B>,
    body: &[u8],
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<(), ProviderError> {
    let failed = |what: &str| ProviderError::bad_gateway(format!("SigV4 signing failed: {what}"));
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.expose(),
        creds.session_token.as_ref().map(|t| t.expose().to_string()),
        None,
        "llm-outbound",
    )
    .into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(&e.to_string()))?
        .into();
    let uri = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        headers,
        SignableBody::Bytes(body),
    )
    .map_err(|e| failed(&e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| failed(&e.to_string()))?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    for name in ["authorization", "x-amz-security-token"] {
        if let Some(value) = req.headers_mut().get_mut(name) {
            value.set_sensitive(true);
        }
    }
    Ok(())
}
