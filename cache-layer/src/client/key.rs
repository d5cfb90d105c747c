use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// A credential: compared and hashed by value, never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Everything that makes one HTTP client differ from another: base URL, credential,
/// timeouts, and any other settings (e.g. an API version). Two keys are equal only if
/// all of them are.
///
/// `Debug` and [`label`](Self::label) never show the credential, the URL's user info or
/// its query (some providers take keys in the query string).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey {
    base_url: Arc<str>,
    credential: Option<Secret>,
    timeout: Option<Duration>,
    stream_timeout: Option<Duration>,
    settings: Vec<(Arc<str>, Arc<str>)>,
}

impl Hash for ClientKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.base_url.hash(state);
        self.credential.hash(state);
        self.timeout.hash(state);
        self.stream_timeout.hash(state);
        self.settings.hash(state);
    }
}

impl ClientKey {
    /// A key for clients of `base_url`.
    pub fn new(base_url: impl Into<Arc<str>>) -> Self {
        Self {
            base_url: base_url.into(),
            credential: None,
            timeout: None,
            stream_timeout: None,
            settings: Vec::new(),
        }
    }

    /// With this credential.
    pub fn with_credential(mut self, credential: Secret) -> Self {
        self.credential = Some(credential);
        self
    }

    /// With this total request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// With this stall timeout between stream chunks.
    pub fn with_stream_timeout(mut self, timeout: Duration) -> Self {
        self.stream_timeout = Some(timeout);
        self
    }

    /// With another setting that changes the client. Settings are kept sorted by name,
    /// so the order they are added in does not matter; a repeated name replaces.
    pub fn with_setting(mut self, name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        let name = name.into();
        let value = value.into();
        match self.settings.binary_search_by(|(n, _)| n.cmp(&name)) {
            Ok(at) => self.settings[at].1 = value,
            Err(at) => self.settings.insert(at, (name, value)),
        }
        self
    }

    /// The base URL, as given (it may carry user info or a query; do not log it).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The credential, if any.
    pub fn credential(&self) -> Option<&Secret> {
        self.credential.as_ref()
    }

    /// The total request timeout, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The stream stall timeout, if any.
    pub fn stream_timeout(&self) -> Option<Duration> {
        self.stream_timeout
    }

    /// The value of setting `name`, if any.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|at| &*self.settings[at].1)
    }

    /// A label safe for logs and metrics: scheme, host and port of the base URL.
    pub fn label(&self) -> String {
        match self.base_url.parse::<http::Uri>() {
            Ok(uri) => match (uri.scheme_str(), uri.host()) {
                (Some(scheme), Some(host)) => match uri.port_u16() {
                    Some(port) => format!("{scheme}://{host}:{port}"),
                    None => format!("{scheme}://{host}"),
                },
                _ => "<invalid url>".to_string(),
            },
            Err(_) => "<invalid url>".to_string(),
        }
    }

    /// The base URL without user info or query, for `Debug`.
    fn safe_url(&self) -> String {
        match self.base_url.parse::<http::Uri>() {
            Ok(uri) => {
                let mut out = self.label();
                out.push_str(uri.path());
                if uri.query().is_some() {
                    out.push_str("?<redacted>");
                }
                out
            }
            Err(_) => "<invalid url>".to_string(),
        }
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("base_url", &self.safe_url())
            .field("credential", &self.credential)
            .field("timeout", &self.timeout)
            .field("stream_timeout", &self.stream_timeout)
            .field("settings", &self.settings)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_label_never_show_secrets() {
        let key = ClientKey::new(
            "https://user:pw-123@generativelanguage.example:8443/v1beta?key=AIza-SECRET",
        )
        .with_credential(Secret::new("sk-SECRET"));
        let shown = format!("{key:?} {}", key.label());
        for secret in ["pw-123", "AIza-SECRET", "sk-SECRET", "user:"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert_eq!(key.label(), "https://generativelanguage.example:8443");
        assert!(shown.contains("/v1beta?<redacted>"), "{shown}");
    }

    #[test]
    fn every_part_of_the_key_tells_clients_apart() {
        let base = ClientKey::new("https://api.example/v1").with_credential(Secret::new("a"));
        let variants = [
            ClientKey::new("https://api.example/v2").with_credential(Secret::new("a")),
            ClientKey::new("https://api.example/v1").with_credential(Secret::new("b")),
            base.clone().with_timeout(Duration::from_secs(1)),
            base.clone().with_stream_timeout(Duration::from_secs(1)),
            base.clone().with_setting("api-version", "2024-10-21"),
        ];
        for other in &variants {
            assert_ne!(&base, other);
        }
        let ab = base.clone().with_setting("a", "1").with_setting("b", "2");
        let ba = base.with_setting("b", "2").with_setting("a", "1");
        assert_eq!(ab, ba);
        assert_eq!(ab.setting("b"), Some("2"));
    }
}
