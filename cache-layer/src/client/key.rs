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
/// Cloning is one reference count, and the hash is computed once when the key is
/// built, so a cache lookup by key costs no allocation and no re-hashing of strings.
/// `Debug` and [`label`](Self::label) never show the credential, the URL's user info or
/// its query (some providers take keys in the query string).
#[derive(Clone)]
pub struct ClientKey {
    parts: Arc<Parts>,
    hash: u64,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Parts {
    base_url: Arc<str>,
    credential: Option<Secret>,
    timeout: Option<Duration>,
    stream_timeout: Option<Duration>,
    settings: Vec<(Arc<str>, Arc<str>)>,
}

impl PartialEq for ClientKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && (Arc::ptr_eq(&self.parts, &other.parts) || self.parts == other.parts)
    }
}

impl Eq for ClientKey {}

impl Hash for ClientKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl ClientKey {
    /// A key for clients of `base_url`.
    pub fn new(base_url: impl Into<Arc<str>>) -> Self {
        Self::from_parts(Parts {
            base_url: base_url.into(),
            credential: None,
            timeout: None,
            stream_timeout: None,
            settings: Vec::new(),
        })
    }

    fn from_parts(parts: Parts) -> Self {
        // A fixed-key hasher: keys come from configuration, not from clients.
        let mut hasher = std::hash::DefaultHasher::new();
        parts.hash(&mut hasher);
        Self {
            hash: hasher.finish(),
            parts: Arc::new(parts),
        }
    }

    fn edit(self, f: impl FnOnce(&mut Parts)) -> Self {
        let mut parts = Arc::unwrap_or_clone(self.parts);
        f(&mut parts);
        Self::from_parts(parts)
    }

    /// With this credential.
    pub fn with_credential(self, credential: Secret) -> Self {
        self.edit(|p| p.credential = Some(credential))
    }

    /// With this total request timeout.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.edit(|p| p.timeout = Some(timeout))
    }

    /// With this stall timeout between stream chunks.
    pub fn with_stream_timeout(self, timeout: Duration) -> Self {
        self.edit(|p| p.stream_timeout = Some(timeout))
    }

    /// With another setting that changes the client. Settings are kept sorted by name,
    /// so the order they are added in does not matter; a repeated name replaces.
    pub fn with_setting(self, name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        let name = name.into();
        let value = value.into();
        self.edit(
            |p| match p.settings.binary_search_by(|(n, _)| n.cmp(&name)) {
                Ok(at) => p.settings[at].1 = value,
                Err(at) => p.settings.insert(at, (name, value)),
            },
        )
    }

    /// The base URL, as given (it may carry user info or a query; do not log it).
    pub fn base_url(&self) -> &str {
        &self.parts.base_url
    }

    /// The credential, if any.
    pub fn credential(&self) -> Option<&Secret> {
        self.parts.credential.as_ref()
    }

    /// The total request timeout, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.parts.timeout
    }

    /// The stream stall timeout, if any.
    pub fn stream_timeout(&self) -> Option<Duration> {
        self.parts.stream_timeout
    }

    /// The value of setting `name`, if any.
    pub fn setting(&self, name: &str) -> Option<&str> {
        let settings = &self.parts.settings;
        settings
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|at| &*settings[at].1)
    }

    /// A label safe for logs and metrics: scheme, host and port of the base URL.
    pub fn label(&self) -> String {
        match self.parts.base_url.parse::<http::Uri>() {
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
        match self.parts.base_url.parse::<http::Uri>() {
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
            .field("credential", &self.parts.credential)
            .field("timeout", &self.parts.timeout)
            .field("stream_timeout", &self.parts.stream_timeout)
            .field("settings", &self.parts.settings)
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
