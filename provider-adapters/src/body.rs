//! Reading a whole body, bounded: what the gateway does with every JSON request and
//! every non-streamed upstream answer.
//!
//! [`read_limited`] is `Limited::new(body, max).collect().await?.to_bytes()` without
//! the collection's buffer list: a body that arrives as one chunk (a small JSON body
//! almost always does) comes back as that very chunk, with no allocation or copy;
//! only a body of several chunks is gathered into one buffer.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use provider_adapters::body::{read_limited, ReadError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let chunk = Bytes::from_static(br#"{"model":"gpt-4o-mini"}"#);
//! let read = read_limited(Full::new(chunk.clone()), 1024).await.unwrap();
//! assert_eq!(read.as_ptr(), chunk.as_ptr()); // the chunk itself, not a copy
//!
//! let too_big = read_limited(Full::new(chunk), 8).await.unwrap_err();
//! assert!(matches!(too_big, ReadError::TooLarge { max: 8 }));
//! # }
//! ```

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body::Body;

/// Why [`read_limited`] gave up.
#[derive(Debug)]
pub enum ReadError<E> {
    /// The body is (or says it is) larger than `max` bytes.
    TooLarge {
        /// The bound.
        max: usize,
    },
    /// The body itself failed.
    Body(E),
}

impl<E: fmt::Display> fmt::Display for ReadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { max } => write!(f, "body larger than {max} bytes"),
            Self::Body(err) => err.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ReadError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::TooLarge { .. } => None,
            Self::Body(err) => Some(err),
        }
    }
}

/// Reads `body` to its end into one `Bytes`, failing as soon as it is known to hold
/// more than `max` bytes (from its size hint, or once more arrived). Trailers are
/// dropped. A body of one data chunk is returned as that chunk.
pub async fn read_limited<B>(body: B, max: usize) -> Result<Bytes, ReadError<B::Error>>
where
    B: Body,
{
    if body.size_hint().lower() > max as u64 {
        return Err(ReadError::TooLarge { max });
    }
    let mut body = std::pin::pin!(body);
    // The first chunk as it came, until a second one needs a buffer for both.
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut len = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(mut data) = frame.map_err(ReadError::Body)?.into_data() else {
            continue;
        };
        let n = data.remaining();
        if n == 0 {
            continue;
        }
        len = match len.checked_add(n) {
            Some(len) if len <= max => len,
            _ => return Err(ReadError::TooLarge { max }),
        };
        if let Some(buf) = joined.as_mut() {
            buf.put(data);
        } else if let Some(head) = first.take() {
            let mut buf = BytesMut::with_capacity(len);
            buf.extend_from_slice(&head);
            buf.put(data);
            joined = Some(buf);
        } else {
            first = Some(data.copy_to_bytes(n));
        }
    }
    Ok(match joined {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use http_body::Frame;
    use http_body_util::{BodyExt, Empty, Full};

    type Frames = Vec<Result<Frame<Bytes>, &'static str>>;

    /// A body of these frames, with no size hint.
    struct FrameBody(std::vec::IntoIter<Result<Frame<Bytes>, &'static str>>);

    impl Body for FrameBody {
        type Data = Bytes;
        type Error = &'static str;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            std::task::Poll::Ready(self.0.next())
        }
    }

    fn frames(frames: Frames) -> FrameBody {
        FrameBody(frames.into_iter())
    }

    fn data(s: &'static str) -> Result<Frame<Bytes>, &'static str> {
        Ok(Frame::data(Bytes::from_static(s.as_bytes())))
    }

    #[tokio::test]
    async fn one_chunk_comes_back_as_itself() {
        let chunk = Bytes::from(vec![b'x'; 100]);
        let read = read_limited(Full::new(chunk.clone()), 100)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, chunk);
        assert_eq!(read.as_ptr(), chunk.as_ptr());
    }

    #[tokio::test]
    async fn chunks_are_joined_and_trailers_and_empty_chunks_skipped() {
        let body = frames(vec![
            data("{\"a\":"),
            data(""),
            data("1,"),
            data("\"b\":2}"),
            Ok(Frame::trailers(HeaderMap::new())),
        ]);
        let read = read_limited(body, 64)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, "{\"a\":1,\"b\":2}");
        let empty = read_limited(Empty::<Bytes>::new(), 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(empty.is_empty());
    }

    #[tokio::test]
    async fn a_body_over_the_bound_is_refused() {
        // Exactly the bound is fine, one byte over is not: in one chunk, over several,
        // and by the size hint before anything is read.
        let at = read_limited(frames(vec![data("abc"), data("de")]), 5).await;
        assert_eq!(at.unwrap_or_else(|e| panic!("{e}")), "abcde");
        for body in [
            frames(vec![data("abcdef")]).boxed_unsync(),
            frames(vec![data("abc"), data("def")]).boxed_unsync(),
            Full::new(Bytes::from_static(b"abcdef"))
                .map_err(|never| match never {})
                .boxed_unsync(),
        ] {
            let err = read_limited(body, 5).await.unwrap_err();
            assert!(matches!(err, ReadError::TooLarge { max: 5 }), "{err}");
            assert_eq!(err.to_string(), "body larger than 5 bytes");
        }
    }

    #[tokio::test]
    async fn a_body_error_is_passed_on() {
        let err = read_limited(frames(vec![data("ab"), Err("reset")]), 64)
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::Body("reset")));
        assert_eq!(err.to_string(), "reset");
    }
}
