use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{Acquire, AdmissionBody, Permit};
use crate::BoxError;

pin_project! {
    /// The future of an [`Admission`](super::Admission) call.
    pub struct ResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req>
    where
        S: Service<Req>,
    {
        Waiting { #[pin] acquire: Acquire, inner: Option<S>, req: Option<Req> },
        Calling { #[pin] future: S::Future, permit: Option<Permit> },
        Rejected { error: Option<BoxError> },
    }
}

impl<S: Service<Req>, Req> ResponseFuture<S, Req> {
    pub(super) fn calling(future: S::Future, permit: Permit) -> Self {
        Self {
            state: State::Calling {
                future,
                permit: Some(permit),
            },
        }
    }

    pub(super) fn rejected(error: BoxError) -> Self {
        Self {
            state: State::Rejected { error: Some(error) },
        }
    }

    pub(super) fn waiting(acquire: Acquire, inner: S, req: Req) -> Self {
        Self {
            state: State::Waiting {
                acquire,
                inner: Some(inner),
                req: Some(req),
            },
        }
    }
}

impl<S, Req, B> Future for ResponseFuture<S, Req>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<Response<AdmissionBody<B>>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Waiting {
                    acquire,
                    inner,
                    req,
                } => {
                    let permit = std::task::ready!(acquire.poll(cx))?;
                    // `inner` was made ready by `poll_ready` before it was moved here.
                    let mut inner = inner.take().expect("polled after completion");
                    let req = req.take().expect("polled after completion");
                    let future = inner.call(req);
                    self.as_mut().project().state.set(State::Calling {
                        future,
                        permit: Some(permit),
                    });
                }
                StateProj::Calling { future, permit } => {
                    let res = std::task::ready!(future.poll(cx)).map_err(Into::into)?;
                    let permit = permit.take().expect("polled after completion");
                    return Poll::Ready(Ok(res.map(|body| AdmissionBody::new(body, permit))));
                }
                StateProj::Rejected { error } => {
                    return Poll::Ready(Err(error.take().expect("polled after completion")));
                }
            }
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ResponseFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
