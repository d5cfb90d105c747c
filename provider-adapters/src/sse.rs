//! An incremental Server-Sent Events parser: feed it chunks split anywhere (inside a
//! line, inside a `\r\n`, inside a UTF-8 character) and it yields the same events.
//!
//! It follows the WHATWG event-stream rules that matter here: `\n`, `\r\n` or `\r` end
//! a line; `:` lines are comments; `data:` lines of one event are joined with `\n`; an
//! empty line dispatches the event; one space after the colon is dropped. Each line is
//! bounded (`max_line`), so a peer that never sends a newline cannot grow memory.

use std::fmt;

/// Default longest line or event accepted (bytes).
pub const DEFAULT_MAX_EVENT: usize = 8 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// The stream broke the parser's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseError {
    max: usize,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream event larger than {} bytes", self.max)
    }
}

impl std::error::Error for SseError {}

/// The parser state; see the [module docs](self).
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    skip_lf: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    max: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT)
    }
}

impl SseParser {
    /// A parser accepting lines and events up to `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            line: Vec::new(),
            skip_lf: false,
            event: None,
            data: String::new(),
            has_data: false,
            max,
        }
    }

    /// Feeds a chunk, appending every event it completes to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        // A `\r` ended the last chunk: a `\n` starting this one belongs to it. (An
        // empty chunk says nothing either way.)
        if self.skip_lf && !chunk.is_empty() {
            self.skip_lf = false;
            if let [b'\n', rest @ ..] = chunk {
                chunk = rest;
            }
        }
        while let Some(at) = memchr::memchr2(b'\n', b'\r', chunk) {
            let (head, tail) = chunk.split_at(at);
            self.push(head)?;
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
            self.line = line;
            self.line.clear();
            chunk = &tail[1..];
            if tail[0] == b'\r' {
                match chunk {
                    [b'\n', rest @ ..] => chunk = rest,
                    [] => self.skip_lf = true,
                    _ => {}
                }
            }
        }
        self.push(chunk)
    }

    /// True between events: no partial line or event is held.
    pub(crate) fn is_idle(&self) -> bool {
        self.line.is_empty()
            && !self.skip_lf
            && self.event.is_none()
            && !self.has_data
            && self.data.is_empty()
    }

    /// The longest line or event accepted.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Ends the stream: a last line without a newline, and an event without its blank
    /// line, are still taken (servers that close right after `data: [DONE]` exist).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
        }
        self.dispatch(out);
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() + self.data.len() > self.max {
            return Err(SseError { max: self.max });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(at) => {
                let value = &line[at + 1..];
                (&line[..at], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        let value = utf8(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.has_data {
            self.has_data = false;
            out.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
    }
}

/// `bytes` as text: borrowed when valid UTF-8 (the fast, usual case), otherwise with
/// U+FFFD in place of the invalid sequences.
pub(crate) fn utf8(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// An incremental newline-delimited JSON splitter (Ollama's streaming format): yields
/// each non-empty line, `\r\n` tolerated, bounded like [`SseParser`].
#[derive(Debug)]
pub struct NdjsonParser {
    line: Vec<u8>,
    max: usize,
}

impl Default for NdjsonParser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT)
    }
}

impl NdjsonParser {
    /// A splitter accepting lines up to `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            line: Vec::new(),
            max,
        }
    }

    /// Feeds a chunk, appending every completed line to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), SseError> {
        while let Some(at) = memchr::memchr(b'\n', chunk) {
            self.push(&chunk[..at])?;
            self.emit(out);
            chunk = &chunk[at + 1..];
        }
        self.push(chunk)
    }

    /// Ends the stream, taking a last line without a newline.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) {
        self.emit(out);
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > self.max {
            return Err(SseError { max: self.max });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn emit(&mut self, out: &mut Vec<Vec<u8>>) {
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            out.push(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out).expect("within bounds");
        }
        parser.finish(&mut out);
        out
    }

    #[test]
    fn multi_line_data_comments_and_event_names() {
        let events = parse(&[
            b": keep-alive\n\nevent: message_start\ndata: {\"a\":\ndata:1}\n\ndata: [DONE]\n\n",
        ]);
        assert_eq!(
            events,
            [
                SseEvent {
                    event: Some("message_start".into()),
                    data: "{\"a\":\n1}".into()
                },
                SseEvent {
                    event: None,
                    data: "[DONE]".into()
                },
            ]
        );
    }

    #[test]
    fn crlf_split_between_chunks_is_one_line_end() {
        let events = parse(&[b"data: a\r", b"\n\r", b"\ndata: b\r\r"]);
        assert_eq!(
            events.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_changes_nothing() {
        let events = parse(&[b"event: e\r", b"", b"\ndata: x\r\n\r\n"]);
        assert_eq!(
            events,
            [SseEvent {
                event: Some("e".into()),
                data: "x".into()
            }]
        );
    }

    #[test]
    fn utf8_split_inside_a_character() {
        let text = "data: héllo ✓\n\n".as_bytes();
        let events = parse(&[&text[..8], &text[8..15], &text[15..]]);
        assert_eq!(events[0].data, "héllo ✓");
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut parser = SseParser::new(16);
        let mut out = Vec::new();
        assert!(
            parser.feed(b"data: 0123456789", &mut out).is_ok(),
            "16 bytes fit"
        );
        assert!(parser.feed(b"a", &mut out).is_err(), "17 do not");
    }

    #[test]
    fn ndjson_lines_with_crlf_and_blank_lines() {
        let mut parser = NdjsonParser::default();
        let mut out = Vec::new();
        parser
            .feed(b"{\"a\":1}\r\n\n{\"b\"", &mut out)
            .expect("bounded");
        parser.feed(b":2}", &mut out).expect("bounded");
        parser.finish(&mut out);
        assert_eq!(out, [b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
    }
}
