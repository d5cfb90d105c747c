use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_util::future::BoxFuture;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::store::{Decision, Store};
use super::TokenUsage;
use crate::BoxError;

pin_project! {
    /// The response future of [`RateLimit`](super::RateLimit): waits for the store's
    /// decision, then for the inner service.
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
        Reserving {
            decision: BoxFuture<'static, Result<Decision, BoxError>>,
            // Both taken when the decision arrives.
            service: Option<S>,
            request: Option<Req>,
            store: Arc<dyn Store>,
        },
        Calling {
            #[pin]
            future: S::Future,
            usage: Option<TokenUsage>,
        },
    }
}

impl<S: Service<Req>, Req> ResponseFuture<S, Req> {
    pub(crate) fn unlimited(future: S::Future) -> Self {
        Self {
            state: State::Calling {
                future,
                usage: None,
            },
        }
    }

    pub(crate) fn reserving(
        decision: BoxFuture<'static, Result<Decision, BoxError>>,
        service: S,
        request: Req,
        store: Arc<dyn Store>,
    ) -> Self {
        Self {
            state: State::Reserving {
                decision,
                service: Some(service),
                request: Some(request),
                store,
            },
        }
    }
}

impl<S, ReqB, ResB> Future for ResponseFuture<S, http::Request<ReqB>>
where
    S: Service<http::Request<ReqB>, Response = http::Response<ResB>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<http::Response<ResB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Reserving {
                    decision,
                    service,
                    request,
                    store,
                } => {
                    let ticket = match ready!(decision.as_mut().poll(cx))? {
                        Decision::Admitted(ticket) => ticket,
                        Decision::Limited(limited) => return Poll::Ready(Err(limited.into())),
                    };
                    let usage = TokenUsage::new(store.clone(), ticket);
                    let mut request = request.take().expect("polled after completion");
                    request.extensions_mut().insert(usage.clone());
                    let mut service = service.take().expect("polled after completion");
                    let future = service.call(request);
                    state.set(State::Calling {
                        future,
                        usage: Some(usage),
                    });
                }
                StateProj::Calling { future, usage } => {
                    let mut response = ready!(future.poll(cx)).map_err(Into::into)?;
                    if let Some(usage) = usage.take() {
                        response.extensions_mut().insert(usage);
                    }
                    return Poll::Ready(Ok(response));
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
