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
