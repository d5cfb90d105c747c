//! The body of a forwarded answer: a whole JSON body, or a stream watched for stalls,
//! its total deadline, its outcome, usage and finish reasons.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::time::{Instant, Sleep};

use limits_layer::callbacks::{FinishReasonsCell, Outcome, OutcomeCell, UsageCell};

use crate::responses::watch::StreamWatch;
use crate::BoxError;

/// The body of a forwarded answer.
pub enum NativeBody {
    /// A whole JSON body, one frame.
    Whole(Option<Bytes>),
    /// A watched stream.
    Stream(Box<Watched>),
}

impl std::fmt::Debug for NativeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NativeBody::Whole(_) => "NativeBody::Whole",
            NativeBody::Stream(_) => "NativeBody::Stream",
        })
    }
}

impl Body for NativeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            NativeBody::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            NativeBody::Stream(stream) => Pin::new(stream.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            NativeBody::Whole(bytes) => bytes.is_none(),
            NativeBody::Stream(stream) => stream.done,
        }
    }
}

/// An upstream event stream passed on as it comes, under a stall timeout and a total
/// deadline; a stall, the deadline, a break or an end before the stream's final event
/// ends it with an `error` event. Its usage, finish reasons and early end go to the
/// request's event (the response's cells).
pub struct Watched {
    pub(super) inner: pool_layer::Body,
    pub(super) stall: Duration,
    pub(super) timer: Pin<Box<Sleep>>,
    pub(super) deadline: Instant,
    pub(super) done: bool,
    pub(super) watch: StreamWatch,
    pub(super) outcome: OutcomeCell,
    pub(super) usage: UsageCell,
    pub(super) finish: FinishReasonsCell,
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("stall", &self.stall)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Watched {
    /// Ends the stream: what it reported goes to the cells.
    fn end(&mut self) {
        self.done = true;
        if let Some(usage) = self.watch.usage() {
            self.usage.set(usage.into());
        }
        if !self.watch.reasons().is_empty() {
            self.finish.set(self.watch.reasons().clone());
        }
    }

    fn error_event(
        &mut self,
        outcome: Outcome,
        code: &str,
        message: &str,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.outcome.set(outcome);
        self.end();
        // The Responses API's `error` event, with an OpenAI `error` object too, which
        // the SDKs turn into an exception on the other streamed routes.
        let data = serde_json::json!({
            "type": "error", "code": code, "message": message, "param": null,
            "error": {"message": message, "type": "api_error", "code": code},
        });
        let event = format!("event: error\ndata: {data}\n\n");
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(event)))))
    }
}

impl Body for Watched {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = (Instant::now() + this.stall).min(this.deadline);
                this.timer.as_mut().reset(next);
                match frame.into_data() {
                    Ok(data) => {
                        this.watch.chunk(&data);
                        Poll::Ready(Some(Ok(Frame::data(data))))
                    }
                    // Trailers carry nothing a client of these APIs reads.
                    Err(_) => {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                }
            }
            Poll::Ready(Some(Err(err))) => {
                let message = format!("the upstream stream broke: {err}");
                this.error_event(Outcome::Truncated, "upstream_error", &message)
            }
            Poll::Ready(None) if !this.watch.complete() => this.error_event(
                Outcome::Truncated,
                "stream_truncated",
                "upstream closed the stream before it finished",
            ),
            Poll::Ready(None) => {
                this.end();
                Poll::Ready(None)
            }
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) if Instant::now() >= this.deadline => this.error_event(
                    Outcome::TimedOut,
                    "timeout",
                    "the upstream stream outlived the request timeout",
                ),
                Poll::Ready(()) => {
                    let message = format!("the upstream stream stalled for {:?}", this.stall);
                    this.error_event(Outcome::Stalled, "timeout", &message)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}
