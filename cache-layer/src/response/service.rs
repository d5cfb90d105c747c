use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use tower_service::Service;

use super::body::{Recorder, ResponseBody};
use super::key::{hash_body, BodyKind, CacheKey};
use super::layer::{Shared, X_CACHE};
use crate::BoxError;

/// The response cache service; see the [module docs](super).
pub struct ResponseCache<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> ResponseCache<S> {
    pub(super) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for ResponseCache<S> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.shared.clone())
    }
}

impl<S: fmt::Debug> fmt::Debug for ResponseCache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseCache")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ResponseCache<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    ReqBody: Body + From<Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = BoxError;
    type Future = ResponseFuture<ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The request body must be read before the inner service is called, so take
        // the instance that `poll_ready` readied and leave a fresh clone behind.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture {
            inner: Box::pin(respond(inner, self.shared.clone(), req)),
        }
    }
}

async fn respond<S, ReqBody, ResBody>(
    mut inner: S,
    shared: Arc<Shared>,
    req: Request<ReqBody>,
) -> Result<Response<ResponseBody<ResBody>>, BoxError>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ReqBody: Body + From<Bytes>,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes>,
{
    let asked = Directives::of(req.headers());
    if asked.no_store || !(req.method() == Method::GET || req.method() == Method::POST) {
        let res = inner.call(req).await.map_err(Into::into)?;
        return Ok(miss(res, None));
    }

    let (parts, body) = req.into_parts();
    let bytes = body.collect().await.map_err(Into::into)?.to_bytes();
    let key = match hash_body(&bytes, &shared.body_hasher) {
        BodyKind::Hashed(hash) => Some(CacheKey::new(&parts, hash, &shared.identity_hasher)),
        BodyKind::Streaming => None,
    };
    if let (Some(key), false) = (&key, asked.no_cache) {
        if let Some(hit) = shared.cache.get(key) {
            tracing::trace!("response cache hit");
            return Ok(hit.to_response());
        }
    }
    #[cfg(feature = "redis")]
    let remote_key = match (&shared.remote, &key) {
        (Some(_), Some(_)) => Some(super::key::stable_key(&parts, &bytes)),
        _ => None,
    };
    #[cfg(not(feature = "redis"))]
    let remote_key: Option<String> = None;
    #[cfg(feature = "redis")]
    if let (Some((store, _)), Some(rk), Some(key), false) =
        (&shared.remote, &remote_key, &key, asked.no_cache)
    {
        let found = store.get(rk.clone()).await;
        if let Some(hit) = found.and_then(super::body::CachedResponse::decode) {
            tracing::trace!("shared response cache hit");
            let res = hit.to_response();
            let _ = shared.cache.insert(key.clone(), hit);
            return Ok(res);
        }
    }

    let req = Request::from_parts(parts, ReqBody::from(bytes));
    let res = inner.call(req).await.map_err(Into::into)?;
    let recorder = key
        .filter(|_| storable(&res, shared.max_item_bytes))
        .map(|key| Recorder::new(shared.clone(), key, remote_key, &res));
    Ok(miss(res, recorder))
}

fn miss<B>(res: Response<B>, recorder: Option<Recorder>) -> Response<ResponseBody<B>> {
    let (mut parts, body) = res.into_parts();
    parts
        .headers
        .insert(X_CACHE, HeaderValue::from_static("miss"));
    Response::from_parts(parts, ResponseBody::inner(body, recorder))
}

/// Whether a response may be stored: success, not a stream, not marked private or
/// no-store, and not declared larger than the item cap.
fn storable<B>(res: &Response<B>, max_bytes: usize) -> bool {
    let headers = res.headers();
    let streaming = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("text/event-stream") || ct.starts_with("application/x-ndjson")
        });
    let too_large = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > max_bytes as u64);
    let said = Directives::of(headers);
    res.status().is_success() && !streaming && !too_large && !said.no_store && !said.private
}

#[derive(Default)]
struct Directives {
    no_store: bool,
    no_cache: bool,
    private: bool,
}

impl Directives {
    fn of(headers: &HeaderMap) -> Self {
        let mut found = Self::default();
        for value in headers.get_all(CACHE_CONTROL) {
            let Ok(value) = value.to_str() else { continue };
            for directive in value.split(',') {
                let name = directive.split('=').next().unwrap_or("").trim();
                if name.eq_ignore_ascii_case("no-store") {
                    found.no_store = true;
                } else if name.eq_ignore_ascii_case("no-cache") {
                    found.no_cache = true;
                } else if name.eq_ignore_ascii_case("private") {
                    found.private = true;
                }
            }
        }
        found
    }
}

/// The future of a [`ResponseCache`] call.
///
/// Boxed: the call reads the request body before it calls the inner service, a state
/// machine that is clearer as `async` code, and this layer is optional (off by
/// default), so its one allocation per request is not on the default path.
pub struct ResponseFuture<B> {
    inner: Pin<Box<dyn Future<Output = CallResult<B>> + Send>>,
}

type CallResult<B> = Result<Response<ResponseBody<B>>, BoxError>;

impl<B> Future for ResponseFuture<B> {
    type Output = Result<Response<ResponseBody<B>>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B> fmt::Debug for ResponseFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
