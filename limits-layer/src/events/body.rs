use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::service::Record;
use crate::callbacks::{FinishReasons, FinishReasonsCell, Outcome, OutcomeCell, Usage, UsageCell};

/// The request's record plus what the response head said.
pub(super) struct Pending {
    pub(super) record: Record,
    pub(super) status: u16,
    pub(super) usage: Option<Usage>,
    pub(super) usage_cell: Option<UsageCell>,
    pub(super) outcome_cell: Option<OutcomeCell>,
    pub(super) finish: Option<FinishReasons>,
    pub(super) finish_cell: Option<FinishReasonsCell>,
    pub(super) upstream_latency: Option<Duration>,
    /// Set at the first data frame.
    pub(super) first_byte: Option<Duration>,
}

impl Pending {
    fn emit(self, bytes: u64, outcome: Outcome) {
        let usage = self.usage.or_else(|| self.usage_cell.and_then(|c| c.get()));
        // A stream ended early inside a body that ended well: the stream's word.
        let outcome = match (outcome, self.outcome_cell.and_then(|c| c.get())) {
            (Outcome::Completed, Some(inner)) => inner,
            (outcome, _) => outcome,
        };
        let finish_reasons = self
            .finish
            .or_else(|| self.finish_cell.and_then(|c| c.get().cloned()))
            .unwrap_or_default();
        let timing = Timing {
            upstream_latency: self.upstream_latency,
            first_byte: self.first_byte,
            finish_reasons,
        };
        self.record
            .emit(Some(self.status), usage, bytes, outcome, timing);
    }
}

/// What the response reports besides its status, usage and bytes: times beyond the
/// latency, and the finish reasons.
#[derive(Default)]
pub(super) struct Timing {
    pub(super) upstream_latency: Option<Duration>,
    pub(super) first_byte: Option<Duration>,
    pub(super) finish_reasons: FinishReasons,
}

pin_project! {
    /// A response body that emits its request's event when it ends, fails, or is
    /// dropped, whichever comes first (exactly once).
    pub struct EventBody<B> {
        #[pin]
        inner: B,
        bytes: u64,
        pending: Option<Pending>,
    }

    impl<B> PinnedDrop for EventBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(pending) = this.pending.take() {
                pending.emit(*this.bytes, Outcome::Abandoned);
            }
        }
    }
}

impl<B> EventBody<B> {
    pub(super) fn new(inner: B, pending: Option<Pending>) -> Self {
        Self {
            inner,
            bytes: 0,
            pending,
        }
    }
}

impl<B: Body> Body for EventBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        let outcome = match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    if *this.bytes == 0 && data.has_remaining() {
                        if let Some(pending) = this.pending.as_mut() {
                            pending.first_byte = Some(pending.record.start.elapsed());
                        }
                    }
                    *this.bytes += data.remaining() as u64;
                }
                this.inner.is_end_stream().then_some(Outcome::Completed)
            }
            Some(Err(_)) => Some(Outcome::Failed),
            None => Some(Outcome::Completed),
        };
        if let Some(outcome) = outcome {
            if let Some(pending) = this.pending.take() {
                pending.emit(*this.bytes, outcome);
            }
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

impl<B> fmt::Debug for EventBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBody")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}
