use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use super::layer::Demand;
use super::store::{Limits, Store};
use super::ResponseFuture;
use crate::BoxError;

/// Rejects requests over their key's RPM/TPM at once with
/// [`RateLimited`](super::RateLimited); admitted ones carry a
/// [`TokenUsage`](super::TokenUsage) in their request and response extensions.
///
/// The decision is made in `call` (the store may be remote), so the ready inner service
/// moves into the response future and a clone of it stays here for the next request:
/// the inner service must be `Clone`, as for any middleware that awaits before calling.
pub struct RateLimit<S, F> {
    inner: S,
    store: Arc<dyn Store>,
    limits: Limits,
    demand: F,
}

impl<S, F> RateLimit<S, F> {
    /// Wraps `inner`.
    pub fn new(inner: S, store: Arc<dyn Store>, limits: Limits, demand: F) -> Self {
        Self {
            inner,
            store,
            limits,
            demand,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, F, ReqB, ResB> Service<http::Request<ReqB>> for RateLimit<S, F>
where
    S: Service<http::Request<ReqB>, Response = http::Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    F: Fn(&http::Request<ReqB>) -> Option<Demand>,
{
    type Response = http::Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S, http::Request<ReqB>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<ReqB>) -> Self::Future {
        let Some(demand) = (self.demand)(&req) else {
            return ResponseFuture::unlimited(self.inner.call(req));
        };
        let limits = demand.limits.unwrap_or(self.limits);
        let tokens = limits.clamp_tokens(demand.tokens);
        let decision = self.store.reserve(&demand.key, tokens, limits);
        // The ready service answers this request; the clone waits for poll_ready.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::reserving(decision, ready, req, self.store.clone())
    }
}

impl<S: Clone, F: Clone> Clone for RateLimit<S, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            store: self.store.clone(),
            limits: self.limits,
            demand: self.demand.clone(),
        }
    }
}

impl<S: fmt::Debug, F> fmt::Debug for RateLimit<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
