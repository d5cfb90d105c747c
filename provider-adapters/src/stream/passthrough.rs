//! One event's work: framing the client's events and the error event, what is watched
//! in a stream passed through as it is (finish reasons, the end marker, usage), and
//! each [`Mode`]'s handling of an event and of the stream's end.

use super::*;

pub(super) fn frame_event(out: &mut BytesMut, event: Option<&str>, data: &str) {
    if let Some(name) = event {
        out.put_slice(b"event: ");
        out.put_slice(name.as_bytes());
        out.put_u8(b'\n');
    }
    for line in data.split('\n') {
        out.put_slice(b"data: ");
        out.put_slice(line.as_bytes());
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
}

pub(super) fn error_event(client: ClientFormat, err: &ProviderError) -> Bytes {
    match client {
        ClientFormat::OpenAi => {
            let mut out = BytesMut::new();
            frame_event(&mut out, None, &err.to_json().to_string());
            out.freeze()
        }
        ClientFormat::Anthropic => AnthropicEncoder::error(err),
    }
}

/// Watches one OpenAI chunk passed through for the stream's end: `[DONE]` or an error
/// ends it; a `finish_reason` (kept in `reasons`) means it may end without `[DONE]`.
pub(crate) fn watch_openai(data: &[u8], finished: &mut bool, reasons: &mut FinishReasons) {
    // Built once: a searcher's set-up costs more than a search of one chunk.
    static FINISH_REASON: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\"finish_reason\":"));
    if data.trim_ascii() == b"[DONE]" || data.starts_with(b"{\"error\"") {
        *finished = true;
        return;
    }
    for at in FINISH_REASON.find_iter(data) {
        // A string value (`null` is not a reason).
        if let Some(reason) = string_at(&data[at + b"\"finish_reason\":".len()..]) {
            reasons.push(FinishReason::new(reason));
        }
    }
}

/// The stop reason of an Anthropic `message_delta` event passed through, if it has one.
pub(super) fn anthropic_stop_reason(data: &[u8]) -> Option<&str> {
    static STOP_REASON: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\"stop_reason\":"));
    let at = STOP_REASON.find(data)?;
    string_at(&data[at + b"\"stop_reason\":".len()..])
}

/// The JSON string at the start of `value` (after one optional space), if it is one
/// without escapes (the finish reasons of every API are plain words).
pub(super) fn string_at(value: &[u8]) -> Option<&str> {
    let value = value.strip_prefix(b" ").unwrap_or(value);
    let rest = value.strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[end] != b'"' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

/// Whether `chunk` can go to the client as it came: an OpenAI stream passed through,
/// the parser between events, and the chunk whole plain events (each one `data: `
/// line and a blank line, `\n` line ends, valid UTF-8, every event within the parser's
/// bound), which is the form re-framing would give them byte for byte. If so, the
/// events are watched as re-framed ones are, and nothing is copied.
pub(super) fn passes_as_is(
    framing: &Framing,
    mode: &mut Mode,
    client: ClientFormat,
    chunk: &[u8],
) -> bool {
    let (
        Framing::Sse(parser),
        Mode::Passthrough {
            finished,
            reasons,
            usage,
        },
    ) = (framing, mode)
    else {
        return false;
    };
    if client != ClientFormat::OpenAi
        || !parser.is_idle()
        || !chunk.ends_with(b"\n\n")
        || memchr::memchr(b'\r', chunk).is_some()
        || std::str::from_utf8(chunk).is_err()
    {
        return false;
    }
    // Kept apart until the whole chunk is known to pass (nothing allocated for none).
    let (mut done, mut found, mut used) = (*finished, FinishReasons::default(), *usage);
    let mut rest = chunk;
    while !rest.is_empty() {
        // One line, then a blank one.
        let Some(end) = memchr::memchr(b'\n', rest) else {
            return false;
        };
        let event = &rest[..end];
        let Some(data) = event.strip_prefix(b"data: ") else {
            return false;
        };
        if rest.get(end + 1) != Some(&b'\n') || event.len() > parser.max() {
            return false;
        }
        watch_openai(data, &mut done, &mut found);
        if let Some(u) = crate::usage::of_event(client, None, data) {
            used = Some(crate::usage::merge(used, u));
        }
        rest = &rest[end + 2..];
    }
    (*finished, *usage) = (done, used);
    for reason in found.iter() {
        reasons.push(reason.clone());
    }
    true
}

impl Mode {
    /// Handles one upstream event; `Err` ends the stream with that error.
    pub(super) fn event(
        &mut self,
        client: ClientFormat,
        name: Option<&str>,
        data: &str,
        out: &mut BytesMut,
    ) -> Result<(), ProviderError> {
        match self {
            Mode::Passthrough {
                finished,
                reasons,
                usage,
            } => {
                frame_event(out, name, data);
                if let Some(u) = crate::usage::of_event(client, name, data.as_bytes()) {
                    *usage = Some(crate::usage::merge(*usage, u));
                }
                match client {
                    ClientFormat::OpenAi => {
                        watch_openai(data.as_bytes(), finished, reasons);
                    }
                    ClientFormat::Anthropic => match name {
                        Some("message_stop" | "error") => *finished = true,
                        Some("message_delta") => {
                            if let Some(reason) = anthropic_stop_reason(data.as_bytes()) {
                                reasons.push(FinishReason::new(reason));
                            }
                        }
                        _ => {}
                    },
                }
                Ok(())
            }
            Mode::Translate { decoder, encoder } => {
                decoder.event(name, data, &mut Writer { encoder, out })
            }
        }
    }

    /// The usage the stream reported so far (for the request's event).
    pub(super) fn usage(&self) -> Option<Usage> {
        match self {
            Mode::Passthrough { usage, .. } => *usage,
            Mode::Translate { encoder, .. } => match &**encoder {
                Encoder::OpenAi(e) => e.usage(),
                Encoder::Anthropic(e) => e.usage(),
            },
        }
    }

    /// The finish reasons the client was sent so far (for the request's event).
    pub(super) fn finish_reasons(&self) -> FinishReasons {
        match self {
            Mode::Passthrough { reasons, .. } => reasons.clone(),
            Mode::Translate { encoder, .. } => match &**encoder {
                Encoder::OpenAi(e) => e.finish_reasons().clone(),
                Encoder::Anthropic(e) => e.finish_reasons(),
            },
        }
    }

    /// At the upstream's end: the closing frames, or the error if it ended early.
    pub(super) fn finish(
        &mut self,
        client: ClientFormat,
        out: &mut BytesMut,
    ) -> Result<(), ProviderError> {
        let truncated = || {
            ProviderError::bad_gateway("upstream closed the stream before it finished")
                .with_code("stream_truncated")
        };
        match self {
            Mode::Passthrough { finished: true, .. } => Ok(()),
            // Some OpenAI-compatible servers end right after the final chunk.
            Mode::Passthrough { reasons, .. }
                if client == ClientFormat::OpenAi && !reasons.is_empty() =>
            {
                frame_event(out, None, "[DONE]");
                Ok(())
            }
            Mode::Passthrough { .. } => Err(truncated()),
            Mode::Translate { decoder, encoder } => {
                if !decoder.complete() {
                    return Err(truncated());
                }
                match &mut **encoder {
                    Encoder::OpenAi(e) => e.finish(out),
                    Encoder::Anthropic(e) => e.finish(out),
                }
                Ok(())
            }
        }
    }
}
