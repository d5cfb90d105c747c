//! A second cache level shared by instances ([`SharedStore`], e.g. [`RedisResponseStore`]):
//! on a local miss the shared store is asked, and a stored response goes to both.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version};

use super::body::CachedResponse;

mod redis;

pub use self::redis::{RedisResponseStore, DEFAULT_NAMESPACE, DEFAULT_STORE_TIMEOUT};

/// A boxed future of a shared store.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A response store shared by instances. Calls never fail: an unreachable store is a
/// miss (and says so in its own metrics), and `put` never blocks the response.
pub trait SharedStore: Send + Sync + 'static {
    /// The stored value of `key`, if any.
    fn get(&self, key: String) -> StoreFuture<Option<Bytes>>;
    /// Stores `value` under `key` for `ttl`, in the background.
    fn put(&self, key: String, value: Bytes, ttl: Duration);
}

/// The largest header count and header value an encoded response may hold.
const MAX_HEADERS: usize = 256;

impl CachedResponse {
    /// Status, headers and body in a compact binary form (HTTP/1.1 is assumed on
    /// decode: the version is the connection's business).
    pub(super) fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.body.len() + 256);
        buf.put_u16(self.status.as_u16());
        let headers: Vec<_> = self.headers.iter().take(MAX_HEADERS).collect();
        buf.put_u16(headers.len() as u16);
        for (name, value) in headers {
            buf.put_u16(name.as_str().len() as u16);
            buf.put_slice(name.as_str().as_bytes());
            buf.put_u32(value.len() as u32);
            buf.put_slice(value.as_bytes());
        }
        buf.put_slice(&self.body);
        buf.freeze()
    }

    /// The inverse of [`encode`](Self::encode); `None` for anything malformed (a
    /// foreign value under the key is a miss, never a panic).
    pub(super) fn decode(mut data: Bytes) -> Option<Self> {
        fn take(data: &mut Bytes, n: usize) -> Option<Bytes> {
            (data.len() >= n).then(|| data.split_to(n))
        }
        let num = |b: Bytes| b.iter().fold(0usize, |n, x| (n << 8) | usize::from(*x));
        let status = StatusCode::from_u16(num(take(&mut data, 2)?) as u16).ok()?;
        let count = num(take(&mut data, 2)?);
        let mut headers = HeaderMap::with_capacity(count.min(MAX_HEADERS));
        for _ in 0..count.min(MAX_HEADERS) {
            let len = num(take(&mut data, 2)?);
            let name = HeaderName::from_bytes(&take(&mut data, len)?).ok()?;
            let len = num(take(&mut data, 4)?);
            let value = HeaderValue::from_maybe_shared(take(&mut data, len)?).ok()?;
            headers.append(name, value);
        }
        Some(Self {
            status,
            version: Version::HTTP_11,
            headers,
            body: data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_survives_encoding_and_garbage_is_a_miss() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let r = CachedResponse {
            status: StatusCode::CREATED,
            version: Version::HTTP_11,
            headers,
            body: Bytes::from_static(b"{\"ok\":true}"),
        };
        let back = CachedResponse::decode(r.encode()).expect("decodes");
        assert_eq!(back.status, StatusCode::CREATED);
        assert_eq!(back.headers, r.headers);
        assert_eq!(back.body, r.body);
        assert!(CachedResponse::decode(Bytes::from_static(b"\x00")).is_none());
        assert!(CachedResponse::decode(Bytes::from_static(b"\x00\xc8\x00\x05\x00")).is_none());
    }
}
