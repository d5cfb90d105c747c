use std::fmt;
use std::task::{Context, Poll};

use http::Response;
use tower_service::Service;

use super::future::ResponseFuture;
use super::{AdmissionBody, Admit};
use crate::BoxError;

/// Admits each request through a policy before calling the inner HTTP service; the
/// slot is held until the response body ends or is dropped.
///
/// `poll_ready` is the inner service's. The admission decision is made per request in
/// `call`: a free slot calls the inner service right away; a full queue rejects at
/// once; otherwise the request waits in the returned future, holding the inner service
/// instance that `poll_ready` made ready (a clone is left in its place).
pub struct Admission<S, P> {
    inner: S,
    policy: P,
}

impl<S, P> Admission<S, P> {
    /// Wraps `inner`.
    pub fn new(inner: S, policy: P) -> Self {
        Self { inner, policy }
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

impl<S: Clone, P: Clone> Clone for Admission<S, P> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.policy.clone())
    }
}

impl<S: fmt::Debug, P: fmt::Debug> fmt::Debug for Admission<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S, P, Req, B> Service<Req> for Admission<S, P>
where
    S: Service<Req, Response = Response<B>> + Clone,
    S::Error: Into<BoxError>,
    P: Admit<Req>,
{
    type Response = Response<AdmissionBody<B>>;
    type Error = BoxError;
    type Future = ResponseFuture<S, Req>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let mut acquire = self.policy.admit(&req);
        match acquire.take_decided() {
            Some(Ok(permit)) => ResponseFuture::calling(self.inner.call(req), permit),
            Some(Err(rejected)) => ResponseFuture::rejected(rejected),
            None => {
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(acquire, ready, req)
            }
        }
    }
}
