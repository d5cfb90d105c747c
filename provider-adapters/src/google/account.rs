//! A service-account key file, parsed and its RSA key checked once, at config time.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde::Deserialize;

use super::CLOUD_PLATFORM_SCOPE;
use crate::Secret;

/// The fields of a key file the flow uses.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
}

/// Google's token endpoint, for key files that name none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// How long an assertion (and the token asked for) is valid: Google's maximum.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// A service account: its e-mail, key and token endpoint. `Debug` shows the e-mail
/// only; two accounts are equal when their key files are.
#[derive(Clone)]
pub struct ServiceAccount {
    /// `client_email`.
    pub client_email: String,
    /// `private_key_id` (the JWT's `kid`).
    pub private_key_id: Option<String>,
    /// `token_uri`.
    pub token_uri: String,
    /// `project_id`, the default Vertex AI project.
    pub project_id: Option<String>,
    key: Arc<RsaKeyPair>,
    pem: Secret,
}

impl ServiceAccount {
    /// Parses a key file's JSON and checks its key (an RSA PKCS#8 PEM).
    pub fn from_json(json: &str) -> Result<Self, String> {
        let file: KeyFile = serde_json::from_str(json)
            .map_err(|e| format!("is not a service-account key file: {e}"))?;
        if let Some(kind) = file.kind.as_deref().filter(|k| *k != "service_account") {
            return Err(format!(
                "is a `{kind}` credential; only `service_account` key files are supported"
            ));
        }
        let der = pem_body(&file.private_key)
            .ok_or("has a `private_key` that is not a PEM `PRIVATE KEY`")?;
        let key = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| format!("has a `private_key` that is not an RSA PKCS#8 key: {e}"))?;
        Ok(Self {
            client_email: file.client_email,
            private_key_id: file.private_key_id,
            token_uri: file
                .token_uri
                .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string()),
            project_id: file.project_id,
            key: Arc::new(key),
            pem: Secret::new(file.private_key),
        })
    }

    /// A signed JWT-bearer assertion issued at `now`.
    pub(crate) fn assertion(&self, now: SystemTime) -> Result<String, String> {
        let iat = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| "the clock is before 1970")?
            .as_secs();
        let header = match &self.private_key_id {
            Some(kid) => serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
            None => serde_json::json!({"alg": "RS256", "typ": "JWT"}),
        };
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": CLOUD_PLATFORM_SCOPE,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "RS256 signing failed")?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The DER inside a `-----BEGIN PRIVATE KEY-----` PEM block.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN PRIVATE KEY-----")? + "-----BEGIN PRIVATE KEY-----".len();
    let end = pem[start..].find("-----END PRIVATE KEY-----")? + start;
    let b64: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD.decode(b64).ok()
}

impl PartialEq for ServiceAccount {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.client_email,
            &self.private_key_id,
            &self.token_uri,
            &self.pem,
        ) == (
            &other.client_email,
            &other.private_key_id,
            &other.token_uri,
            &other.pem,
        )
    }
}

impl Eq for ServiceAccount {}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}
