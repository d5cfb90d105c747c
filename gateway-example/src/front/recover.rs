//! [`RecoverLayer`]: a service's errors as responses, without boxing.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use axum::response::Response;
use futures_util::future::Either;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// The body of a [`Recover`] response: the inner service's, or the answer to an error.
/// Not boxed, so a stack of layers boxes its body once, at the end.
pub type RecoveredBody<B> = http_body_util::Either<B, Body>;

/// Turns a service's errors into responses with a plain function, like axum's
/// `HandleErrorLayer` but without boxing the response future or the body.
#[derive(Clone, Debug)]
pub struct RecoverLayer<F> {
    f: F,
}

impl<F> RecoverLayer<F> {
    /// Errors become `f(error)`.
    pub fn new(f: F) -> Self {
        Self { f }
    }
}

impl<S, F: Clone> Layer<S> for RecoverLayer<F> {
    type Service = Recover<S, F>;

    fn layer(&self, inner: S) -> Recover<S, F> {
        Recover {
            inner,
            f: self.f.clone(),
            failed: None,
        }
    }
}

/// See [`RecoverLayer`].
#[derive(Debug)]
pub struct Recover<S, F> {
    inner: S,
    f: F,
    /// An error from `poll_ready`, answered by the next call without calling `inner`.
    failed: Option<Response>,
}

impl<S: Clone, F: Clone> Clone for Recover<S, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            f: self.f.clone(),
            failed: None,
        }
    }
}

impl<S, F, Req, B> Service<Req> for Recover<S, F>
where
    S: Service<Req, Response = http::Response<B>>,
    F: Fn(S::Error) -> Response + Clone,
{
    type Response = http::Response<RecoveredBody<B>>;
    type Error = Infallible;
    /// The inner service's future with its error recovered, or the recovered error of
    /// `poll_ready`.
    type Future = Either<
        RecoverFuture<S::Future, F>,
        std::future::Ready<Result<http::Response<RecoveredBody<B>>, Infallible>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.failed.is_none() {
            if let Err(err) = ready!(self.inner.poll_ready(cx)) {
                self.failed = Some((self.f)(err));
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.failed.take() {
            Some(res) => Either::Right(std::future::ready(Ok(
                res.map(http_body_util::Either::Right)
            ))),
            None => Either::Left(RecoverFuture {
                inner: self.inner.call(req),
                f: self.f.clone(),
            }),
        }
    }
}

pin_project! {
    /// The response future of [`Recover`] around a call of the inner service.
    pub struct RecoverFuture<Fut, F> {
        #[pin]
        inner: Fut,
        f: F,
    }
}

impl<Fut, F, B, E> Future for RecoverFuture<Fut, F>
where
    Fut: Future<Output = Result<http::Response<B>, E>>,
    F: Fn(E) -> Response,
{
    type Output = Result<http::Response<RecoveredBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(Ok(match ready!(this.inner.poll(cx)) {
            Ok(res) => res.map(http_body_util::Either::Left),
            Err(err) => (this.f)(err).map(http_body_util::Either::Right),
        }))
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use axum::extract::Request;
    use http::StatusCode;
    /// Fails `poll_ready` once, then answers 200 or fails calls with "boom".
    #[derive(Clone)]
    struct Flaky {
        not_ready: bool,
        fail_calls: bool,
        calls: Arc<AtomicU64>,
    }

    impl Service<Request> for Flaky {
        type Response = Response;
        type Error = axum::BoxError;
        type Future = std::future::Ready<Result<Response, axum::BoxError>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), axum::BoxError>> {
            if std::mem::take(&mut self.not_ready) {
                return Poll::Ready(Err("not ready".into()));
            }
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request) -> Self::Future {
            self.calls.fetch_add(1, Ordering::Relaxed);
            std::future::ready(if self.fail_calls {
                Err("boom".into())
            } else {
                Ok(Response::new(Body::empty()))
            })
        }
    }

    #[tokio::test]
    async fn recover_answers_errors_with_its_function() {
        use tower::ServiceExt;
        let recover = RecoverLayer::new(|err: axum::BoxError| {
            let mut res = Response::new(Body::from(err.to_string()));
            *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            res
        });
        let calls = Arc::new(AtomicU64::new(0));
        let flaky = |not_ready, fail_calls| Flaky {
            not_ready,
            fail_calls,
            calls: calls.clone(),
        };
        let text = |res: http::Response<RecoveredBody<Body>>| async move {
            let status = res.status();
            let body = axum::body::to_bytes(Body::new(res.into_body()), 1024)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        };

        let ok = recover
            .layer(flaky(false, false))
            .oneshot(Request::default());
        assert_eq!(
            text(ok.await.unwrap()).await,
            (StatusCode::OK, String::new())
        );
        let failed = recover
            .layer(flaky(false, true))
            .oneshot(Request::default());
        assert_eq!(
            text(failed.await.unwrap()).await,
            (StatusCode::SERVICE_UNAVAILABLE, "boom".into())
        );
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        // Not ready with an error: answered without calling the inner service.
        let unready = recover
            .layer(flaky(true, false))
            .oneshot(Request::default());
        assert_eq!(
            text(unready.await.unwrap()).await,
            (StatusCode::SERVICE_UNAVAILABLE, "not ready".into())
        );
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }
}
