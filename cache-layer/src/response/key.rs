use std::hash::{BuildHasher, Hash, Hasher};

use bytes::Bytes;
use http::request::Parts;

/// The caller's identity for the response cache, set as a request extension by an
/// authentication layer. Without it, the `authorization` and `x-api-key` headers
/// identify the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallerId(pub String);

/// The cache key of a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct CacheKey {
    method: http::Method,
    path_and_query: String,
    body: u64,
    identity: u64,
}

/// What the request body says about caching.
pub(super) enum BodyKind {
    /// Asks for a stream: never cached.
    Streaming,
    /// Anything else, with its hash.
    Hashed(u64),
}

impl CacheKey {
    pub(super) fn new(parts: &Parts, body: u64, identity_hasher: &impl BuildHasher) -> Self {
        let mut hasher = identity_hasher.build_hasher();
        match parts.extensions.get::<CallerId>() {
            Some(CallerId(id)) => {
                0u8.hash(&mut hasher);
                id.hash(&mut hasher);
            }
            None => {
                1u8.hash(&mut hasher);
                for name in [http::header::AUTHORIZATION.as_str(), "x-api-key"] {
                    for value in parts.headers.get_all(name) {
                        value.as_bytes().hash(&mut hasher);
                    }
                    0xffu8.hash(&mut hasher);
                }
            }
        }
        Self {
            method: parts.method.clone(),
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_string(),
            body,
            identity: hasher.finish(),
        }
    }
}

/// The shared store's key: SHA-256 (hex) of the method, path and query, the caller's
/// identity and the body (JSON in canonical form), each length-prefixed.
#[cfg(feature = "redis")]
pub(super) fn stable_key(parts: &Parts, body: &Bytes) -> String {
    use std::fmt::Write;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut part = |bytes: &[u8]| {
        ctx.update(&(bytes.len() as u64).to_be_bytes());
        ctx.update(bytes);
    };
    part(parts.method.as_str().as_bytes());
    part(
        parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .as_bytes(),
    );
    match parts.extensions.get::<CallerId>() {
        Some(CallerId(id)) => {
            part(b"id");
            part(id.as_bytes());
        }
        None => {
            part(b"headers");
            for name in [http::header::AUTHORIZATION.as_str(), "x-api-key"] {
                for value in parts.headers.get_all(name) {
                    part(value.as_bytes());
                }
                part(b"");
            }
        }
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => part(json.to_string().as_bytes()),
        Err(_) => part(body),
    }
    let digest = ctx.finish();
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Hashes a request body: JSON normalized (keys sorted, whitespace gone), anything
/// else as raw bytes.
pub(super) fn hash_body(body: &Bytes, hasher: &impl BuildHasher) -> BodyKind {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => {
            if json.get("stream").and_then(serde_json::Value::as_bool) == Some(true) {
                return BodyKind::Streaming;
            }
            // serde_json's map is ordered by key, so this is a canonical form.
            BodyKind::Hashed(hasher.hash_one(json.to_string()))
        }
        Err(_) => BodyKind::Hashed(hasher.hash_one(body.as_ref())),
    }
}
