use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::Permit;

pin_project! {
    /// A response body that holds its request's admission slot until the body ends,
    /// fails, or is dropped: a five-minute stream counts as in flight for five minutes.
    pub struct AdmissionBody<B> {
        #[pin]
        inner: B,
        permit: Option<Permit>,
    }
}

impl<B> AdmissionBody<B> {
    pub(super) fn new(inner: B, permit: Permit) -> Self {
        Self {
            inner,
            permit: Some(permit),
        }
    }

    /// True while the slot is held.
    pub fn holds_slot(&self) -> bool {
        self.permit.is_some()
    }

    /// The inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: Body> Body for AdmissionBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        // Ended, failed, or just delivered its last frame: the request is done. (A
        // reader may stop polling once `is_end_stream` is true.)
        if !matches!(frame, Some(Ok(_))) || this.inner.is_end_stream() {
            this.permit.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> fmt::Debug for AdmissionBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmissionBody")
            .field("holds_slot", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}
