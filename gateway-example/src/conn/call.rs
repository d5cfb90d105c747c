//! The connection's service as hyper calls it: by `&self`, on the one service of the
//! connection, instead of a clone of the whole stack per request.

use std::cell::RefCell;
use std::task::{Context, Poll, Waker};

use futures_util::future::Either;
use tower::util::Oneshot;
use tower::ServiceExt;

/// A tower service as hyper's service. hyper calls `call(&self)`; hyper-util's
/// `TowerToHyperService` answers that by cloning the service for every request (for
/// the gateway, every layer's handles: a few hundred instructions to clone and drop).
/// This one borrows the connection's service for the call instead, which is
/// synchronous, so no borrow outlives it. A service not ready at once (the gateway's
/// always are: their layers decide in the response future) gets a clone of its own
/// that is driven to readiness, as with hyper-util's adapter.
#[derive(Debug)]
pub struct PerConnection<S> {
    inner: RefCell<S>,
}

impl<S> PerConnection<S> {
    /// `inner`, served by reference.
    pub fn new(inner: S) -> Self {
        Self {
            inner: RefCell::new(inner),
        }
    }
}

impl<S, R> hyper::service::Service<R> for PerConnection<S>
where
    S: tower_service::Service<R> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Oneshot<S, R>>;

    fn call(&self, req: R) -> Self::Future {
        // hyper never calls back in while a `call` runs, and `call` returns before any
        // future it made is polled: the borrow is never held twice.
        let mut inner = self.inner.borrow_mut();
        let mut cx = Context::from_waker(Waker::noop());
        match inner.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => Either::Left(inner.call(req)),
            // Not ready (or failing): a clone waits for readiness (or reports the
            // error) in the response future.
            _ => Either::Right(inner.clone().oneshot(req)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use hyper::service::Service as _;

    use super::*;

    /// Counts its clones; ready only while `ready` is set.
    #[derive(Debug)]
    struct Counted {
        clones: Arc<AtomicUsize>,
        ready: bool,
    }

    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.clones.fetch_add(1, Ordering::Relaxed);
            Self {
                clones: self.clones.clone(),
                // A clone is ready: it stands for a service that became ready later.
                ready: true,
            }
        }
    }

    impl tower_service::Service<u32> for Counted {
        type Response = u32;
        type Error = Infallible;
        type Future = std::future::Ready<Result<u32, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self.ready {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        }

        fn call(&mut self, req: u32) -> Self::Future {
            std::future::ready(Ok(req + 1))
        }
    }

    #[tokio::test]
    async fn a_ready_service_is_called_without_a_clone() {
        let clones = Arc::new(AtomicUsize::new(0));
        let service = PerConnection::new(Counted {
            clones: clones.clone(),
            ready: true,
        });
        for i in 0..3 {
            assert_eq!(service.call(i).await, Ok(i + 1));
        }
        assert_eq!(clones.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_service_not_ready_is_waited_for_on_a_clone() {
        let clones = Arc::new(AtomicUsize::new(0));
        let service = PerConnection::new(Counted {
            clones: clones.clone(),
            ready: false,
        });
        assert_eq!(service.call(1).await, Ok(2));
        assert_eq!(clones.load(Ordering::Relaxed), 1);
    }
}
