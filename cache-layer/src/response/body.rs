use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::key::CacheKey;
use super::layer::{Shared, X_CACHE};

/// A stored response: head and whole body.
pub(super) struct CachedResponse {
    pub(super) status: StatusCode,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl CachedResponse {
    pub(super) fn body_len(&self) -> usize {
        self.body.len()
    }

    pub(super) fn to_response<B>(&self) -> Response<ResponseBody<B>> {
        let mut res = Response::new(ResponseBody {
            kind: Kind::Cached {
                data: Some(self.body.clone()).filter(|b| !b.is_empty()),
            },
        });
        *res.status_mut() = self.status;
        *res.version_mut() = self.version;
        *res.headers_mut() = self.headers.clone();
        res.headers_mut()
            .insert(X_CACHE, HeaderValue::from_static("hit"));
        res
    }
}

/// Records a response body as it streams past, and stores it when it ends whole.
pub(super) struct Recorder {
    shared: Arc<Shared>,
    key: CacheKey,
    pub(super) status: StatusCode,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    chunks: Vec<Bytes>,
    len: usize,
    /// The shared store's key, when there is one.
    remote_key: Option<String>,
}

impl Recorder {
    pub(super) fn new<B>(
        shared: Arc<Shared>,
        key: CacheKey,
        remote_key: Option<String>,
        res: &Response<B>,
    ) -> Self {
        let mut headers = res.headers().clone();
        headers.remove(X_CACHE);
        Self {
            shared,
            key,
            status: res.status(),
            version: res.version(),
            headers,
            chunks: Vec::new(),
            len: 0,
            remote_key,
        }
    }

    /// False once the body has grown past the item cap: stop recording.
    fn push(&mut self, data: &Bytes) -> bool {
        self.len += data.len();
        if self.len > self.shared.max_item_bytes {
            return false;
        }
        self.chunks.push(data.clone());
        true
    }

    fn finish(self) {
        let body = match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks[0].clone(),
            _ => {
                let mut buf = BytesMut::with_capacity(self.len);
                for chunk in &self.chunks {
                    buf.extend_from_slice(chunk);
                }
                buf.freeze()
            }
        };
        let stored = CachedResponse {
            status: self.status,
            version: self.version,
            headers: self.headers,
            body,
        };
        #[cfg(feature = "redis")]
        if let (Some((store, ttl)), Some(key)) = (&self.shared.remote, self.remote_key) {
            store.put(key, stored.encode(), *ttl);
        }
        #[cfg(not(feature = "redis"))]
        let _ = self.remote_key;
        // The weigher re-checks the size; a refusal here just means "not cached".
        let _ = self.shared.cache.insert(self.key, stored);
    }
}

pin_project! {
    /// The body of a response that went through the response cache: the stored body on
    /// a hit, the upstream body otherwise (recorded on the way if it can be cached).
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Cached { data: Option<Bytes> },
        Inner { #[pin] body: B, recorder: Option<Recorder> },
    }
}

impl<B> ResponseBody<B> {
    pub(super) fn inner(body: B, recorder: Option<Recorder>) -> Self {
        Self {
            kind: Kind::Inner { body, recorder },
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Cached { .. } => "cached",
            Kind::Inner { .. } => "upstream",
        };
        f.debug_struct("ResponseBody").field("kind", &kind).finish()
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Cached { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Inner { mut body, recorder } => {
                let frame = std::task::ready!(body.as_mut().poll_frame(cx));
                match &frame {
                    Some(Ok(frame)) => {
                        // Trailers are not stored, so neither is a response with them;
                        // nor one that grew past the item cap.
                        let keep = match (frame.data_ref(), recorder.as_mut()) {
                            (Some(data), Some(rec)) => rec.push(data),
                            (None, Some(_)) => false,
                            _ => true,
                        };
                        if !keep {
                            *recorder = None;
                        }
                    }
                    Some(Err(_)) => *recorder = None,
                    None => {}
                }
                // Store as soon as the body is known to be complete: a reader may stop
                // polling once `is_end_stream` says so.
                if frame.is_none() || body.is_end_stream() {
                    if let Some(rec) = recorder.take() {
                        rec.finish();
                    }
                }
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Cached { data } => data.is_none(),
            Kind::Inner { body, .. } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Cached { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Inner { body, .. } => body.size_hint(),
        }
    }
}
