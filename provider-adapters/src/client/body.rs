//! [`ResponseBody`]: what a [`ProviderClient`](super::ProviderClient) answers with.

use std::fmt;
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;

use crate::stream::ChatStream;
use crate::BoxError;

/// The body of every response a [`ProviderClient`](super::ProviderClient) returns: a whole JSON answer, held
/// as one chunk, or a stream of events in the client's format.
pub struct ResponseBody {
    kind: Kind,
}

enum Kind {
    Whole(Option<Bytes>),
    Stream(Pin<Box<ChatStream<pool_layer::Body>>>),
}

impl ResponseBody {
    pub(super) fn whole(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Whole((!bytes.is_empty()).then_some(bytes)),
        }
    }

    pub(super) fn stream(stream: ChatStream<pool_layer::Body>) -> Self {
        Self {
            kind: Kind::Stream(Box::pin(stream)),
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(http_body::Frame::data(b)))),
            Kind::Stream(stream) => stream.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Whole(bytes) => bytes.is_none(),
            Kind::Stream(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.kind {
            Kind::Whole(bytes) => {
                http_body::SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Kind::Stream(stream) => stream.size_hint(),
        }
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Whole(_) => "whole",
            Kind::Stream(_) => "stream",
        };
        f.debug_struct("ResponseBody").field("kind", &kind).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_whole_body_is_one_frame_of_known_size() {
        use http_body::Body as _;
        use http_body_util::BodyExt;
        let body = ResponseBody::whole(Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(body.size_hint().exact(), Some(7));
        assert!(!body.is_end_stream());
        let mut body = std::pin::pin!(body);
        let frame = body
            .frame()
            .await
            .and_then(|f| f.ok())
            .and_then(|f| f.into_data().ok());
        assert_eq!(frame.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());

        let empty = ResponseBody::whole(Bytes::new());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
        assert_eq!(format!("{empty:?}"), "ResponseBody { kind: \"whole\" }");
    }
}
