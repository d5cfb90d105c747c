//! `application/vnd.amazon.eventstream` framing (Bedrock's streams): messages cut
//! from the byte stream by their length prelude, each checked and decoded by
//! `aws-smithy-eventstream` (prelude and message CRCs), and bounded in size.

use bytes::{Buf, Bytes, BytesMut};

use crate::ProviderError;

/// Default largest message accepted (Bedrock's events are a few KiB).
pub const DEFAULT_MAX_EVENT_MESSAGE: usize = 1024 * 1024;
/// Prelude (total length, headers length, prelude CRC) plus the message CRC.
const MIN_MESSAGE: usize = 16;

/// One decoded message: its `:event-type` (or `:exception-type`) and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// `:message-type` `event`. The payload stays bytes: SageMaker's `PayloadPart`s
    /// are pieces of the model's own stream, cut anywhere (inside a UTF-8 character
    /// too).
    Event { kind: String, payload: Bytes },
    /// `:message-type` `exception` or `error`: the stream's end.
    Exception { kind: String, payload: String },
}

/// Cuts frames from chunks as they arrive.
#[derive(Debug)]
pub(crate) struct EventStreamParser {
    buf: BytesMut,
    max: usize,
}

impl Default for EventStreamParser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_MESSAGE)
    }
}

impl EventStreamParser {
    /// A parser refusing messages over `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
        }
    }

    /// Whether no partial message is buffered.
    pub(crate) fn is_idle(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes `chunk`, appending every whole message to `out`.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), ProviderError> {
        self.buf.extend_from_slice(chunk);
        while self.buf.len() >= 4 {
            let total =
                u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if !(MIN_MESSAGE..=self.max).contains(&total) {
                // Refused before it is buffered: a hostile length cannot grow memory.
                return Err(broken(format!(
                    "event-stream message of {total} bytes (the bound is {})",
                    self.max
                )));
            }
            if self.buf.len() < total {
                break;
            }
            let message = self.buf.split_to(total).freeze();
            let message = aws_smithy_eventstream::frame::read_message_from(message.chunk())
                .map_err(|e| broken(format!("invalid event-stream message: {e}")))?;
            out.push(frame(&message));
        }
        Ok(())
    }
}

fn frame(message: &aws_smithy_types::event_stream::Message) -> Frame {
    let header = |name: &str| {
        message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str().to_string())
    };
    let text = || String::from_utf8_lossy(message.payload()).into_owned();
    match header(":message-type").as_deref() {
        Some("exception") => Frame::Exception {
            kind: header(":exception-type").unwrap_or_default(),
            payload: text(),
        },
        Some("error") => Frame::Exception {
            kind: header(":error-code").unwrap_or_default(),
            payload: header(":error-message").unwrap_or_else(text),
        },
        _ => Frame::Event {
            kind: header(":event-type").unwrap_or_default(),
            payload: message.payload().clone(),
        },
    }
}

fn broken(message: String) -> ProviderError {
    ProviderError::bad_gateway(format!("upstream stream is malformed: {message}"))
}

/// Test helper: one encoded event-stream message.
#[cfg(test)]
pub(crate) fn encode(message_type: &str, kind: &str, payload: &str) -> Vec<u8> {
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    let kind_header = if message_type == "exception" {
        ":exception-type"
    } else {
        ":event-type"
    };
    let message = Message::new(payload.as_bytes().to_vec())
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String(message_type.to_string().into()),
        ))
        .add_header(Header::new(
            kind_header,
            HeaderValue::String(kind.to_string().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out).expect("encodable");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_anywhere_come_out_whole() {
        let mut bytes = encode("event", "messageStart", r#"{"role":"assistant"}"#);
        bytes.extend(encode(
            "event",
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
        ));
        for cut in 0..bytes.len() {
            let mut parser = EventStreamParser::default();
            let mut out = Vec::new();
            parser.feed(&bytes[..cut], &mut out).expect("first half");
            parser.feed(&bytes[cut..], &mut out).expect("second half");
            assert_eq!(out.len(), 2, "cut at {cut}");
            assert!(parser.is_idle());
        }
    }

    #[test]
    fn an_exception_message_is_named_by_its_type() {
        let bytes = encode(
            "exception",
            "throttlingException",
            r#"{"message":"slow down"}"#,
        );
        let mut out = Vec::new();
        EventStreamParser::default()
            .feed(&bytes, &mut out)
            .expect("parsed");
        assert_eq!(
            out,
            vec![Frame::Exception {
                kind: "throttlingException".into(),
                payload: r#"{"message":"slow down"}"#.into()
            }]
        );
    }

    #[test]
    fn a_message_longer_than_the_bound_is_refused_from_its_prelude() {
        let mut parser = EventStreamParser::new(1024);
        let err = parser
            .feed(&[0, 0x10, 0, 0, 0, 0], &mut Vec::new())
            .expect_err("refused");
        assert!(err.message().contains("bound"), "{}", err.message());
    }

    #[test]
    fn a_corrupted_message_is_refused_by_its_checksum() {
        let mut bytes = encode("event", "messageStop", r#"{"stopReason":"end_turn"}"#);
        let last = bytes.len() - 6;
        bytes[last] ^= 0xff;
        let err = EventStreamParser::default()
            .feed(&bytes, &mut Vec::new())
            .expect_err("refused");
        assert!(
            err.message().contains("invalid event-stream"),
            "{}",
            err.message()
        );
    }
}
