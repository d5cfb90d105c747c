//! An OpenAI chat-completion stream (`chat.completion.chunk` events) re-told as
//! Responses streaming events: `response.created`, `response.in_progress`, per item
//! `response.output_item.added` … deltas … `response.output_item.done`, and last
//! `response.completed` (or `response.incomplete`, or `response.failed` when the
//! upstream broke: never a made-up completion).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http_body::{Body, Frame};
use limits_layer::callbacks::{FinishReason, FinishReasons, FinishReasonsCell};

use super::from_chat::{finish, new_id, Echo};
use super::types::{
    ChatCompletion, OutputContent, OutputItem, Response, ResponseError, StreamEvent, Usage,
};
use crate::sse::{SseEvent, SseParser};
use crate::BoxError;

/// An open function call: its place in `output`, ids, name and arguments so far.
struct Call {
    chat_index: usize,
    output_index: usize,
    id: String,
    call_id: String,
    name: String,
    arguments: String,
}

/// A chat-completion SSE stream re-told as Responses events: `response.created`, per
/// item `output_item.added` … deltas … `output_item.done`, and last
/// `response.completed` (or `response.incomplete`, or `response.failed` if the
/// upstream broke).
pub struct ResponsesStream<B> {
    inner: B,
    parser: SseParser,
    events: Vec<SseEvent>,
    response: Response,
    sequence: u64,
    /// The open message: its place in `output`, id, text so far.
    text: Option<(usize, String, String)>,
    calls: Vec<Call>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    out: BytesMut,
    done: bool,
    /// Why the response ended, as the client reads it, set with the final event.
    finish: FinishReasonsCell,
}

impl<B> std::fmt::Debug for ResponsesStream<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponsesStream")
            .field("id", &self.response.id)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<B> ResponsesStream<B> {
    /// The cell the response's finish reason goes in with its final event (its
    /// `incomplete_details.reason`, else its status), for the request's event.
    pub fn finish_cell(&self) -> FinishReasonsCell {
        self.finish.clone()
    }

    /// Translates `inner`, a chat-completion SSE stream, for a request described by
    /// `echo`. The first events are ready before any upstream byte.
    pub fn new(inner: B, echo: &Echo) -> Self {
        let mut stream = Self {
            inner,
            parser: SseParser::default(),
            events: Vec::new(),
            response: echo.response(new_id("resp"), "in_progress"),
            sequence: 0,
            text: None,
            calls: Vec::new(),
            finish_reason: None,
            usage: None,
            out: BytesMut::new(),
            done: false,
            finish: FinishReasonsCell::default(),
        };
        let response = stream.response.clone();
        stream.emit(|n| StreamEvent::Created {
            sequence_number: n,
            response: &response,
        });
        stream.emit(|n| StreamEvent::InProgress {
            sequence_number: n,
            response: &response,
        });
        stream
    }

    fn emit<'e>(&mut self, event: impl FnOnce(u64) -> StreamEvent<'e>) {
        let event = event(self.sequence);
        self.sequence += 1;
        let Ok(data) = serde_json::to_string(&event) else {
            return;
        };
        self.out.put_slice(b"event: ");
        self.out.put_slice(event.name().as_bytes());
        self.out.put_slice(b"\ndata: ");
        self.out.put_slice(data.as_bytes());
        self.out.put_slice(b"\n\n");
    }

    /// One upstream SSE event.
    fn on_event(&mut self, data: &str) {
        if data.trim() == "[DONE]" {
            self.complete();
            return;
        }
        if data.starts_with("{\"error\"") {
            let message = serde_json::from_str::<serde_json::Value>(data)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "the upstream stream failed".into());
            self.fail(message);
            return;
        }
        let Ok(chunk) = serde_json::from_str::<ChatCompletion>(data) else {
            self.fail("upstream sent a stream chunk that cannot be read".into());
            return;
        };
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into());
        }
        for choice in chunk.choices {
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
            }
            let Some(delta) = choice.delta else { continue };
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                self.text_delta(&text);
            }
            for call in delta.tool_calls {
                let function = call.function;
                let name = function.as_ref().and_then(|f| f.name.clone());
                let arguments = function.and_then(|f| f.arguments).unwrap_or_default();
                self.call_delta(call.index, call.id, name, &arguments);
            }
        }
    }

    fn text_delta(&mut self, delta: &str) {
        if self.text.is_none() {
            let index = self.response.output.len() + self.calls.len();
            let id = new_id("msg");
            let item = message(&id, "in_progress", Vec::new());
            self.emit(|n| StreamEvent::OutputItemAdded {
                sequence_number: n,
                output_index: index,
                item: &item,
            });
            let part = OutputContent::text(String::new());
            self.emit(|n| StreamEvent::ContentPartAdded {
                sequence_number: n,
                item_id: &id,
                output_index: index,
                content_index: 0,
                part: &part,
            });
            self.text = Some((index, id, String::new()));
        }
        let Some((index, id, text)) = self.text.take() else {
            return;
        };
        self.emit(|n| StreamEvent::OutputTextDelta {
            sequence_number: n,
            item_id: &id,
            output_index: index,
            content_index: 0,
            delta,
            logprobs: [],
        });
        self.text = Some((index, id, text + delta));
    }

    fn call_delta(
        &mut self,
        chat_index: usize,
        call_id: Option<String>,
        name: Option<String>,
        delta: &str,
    ) {
        if !self.calls.iter().any(|c| c.chat_index == chat_index) {
            // A new item: the message before it is complete.
            self.close_text();
            let call = Call {
                chat_index,
                output_index: self.response.output.len() + self.calls.len(),
                id: new_id("fc"),
                call_id: call_id.unwrap_or_else(|| new_id("call")),
                name: name.unwrap_or_default(),
                arguments: String::new(),
            };
            let item = function_call(&call, "in_progress");
            self.emit(|n| StreamEvent::OutputItemAdded {
                sequence_number: n,
                output_index: call.output_index,
                item: &item,
            });
            self.calls.push(call);
        }
        let Some(at) = self.calls.iter().position(|c| c.chat_index == chat_index) else {
            return;
        };
        if delta.is_empty() {
            return;
        }
        let call = self.calls.remove(at);
        self.emit(|n| StreamEvent::FunctionCallArgumentsDelta {
            sequence_number: n,
            item_id: &call.id,
            output_index: call.output_index,
            delta,
        });
        let mut call = call;
        call.arguments.push_str(delta);
        self.calls.insert(at, call);
    }

    fn close_text(&mut self) {
        let Some((index, id, text)) = self.text.take() else {
            return;
        };
        self.emit(|n| StreamEvent::OutputTextDone {
            sequence_number: n,
            item_id: &id,
            output_index: index,
            content_index: 0,
            text: &text,
            logprobs: [],
        });
        let part = OutputContent::text(text);
        self.emit(|n| StreamEvent::ContentPartDone {
            sequence_number: n,
            item_id: &id,
            output_index: index,
            content_index: 0,
            part: &part,
        });
        let item = message(&id, "completed", vec![part]);
        self.emit(|n| StreamEvent::OutputItemDone {
            sequence_number: n,
            output_index: index,
            item: &item,
        });
        self.response.output.push(item);
    }

    fn close_calls(&mut self) {
        for call in std::mem::take(&mut self.calls) {
            self.emit(|n| StreamEvent::FunctionCallArgumentsDone {
                sequence_number: n,
                item_id: &call.id,
                output_index: call.output_index,
                name: &call.name,
                arguments: &call.arguments,
            });
            let item = function_call(&call, "completed");
            self.emit(|n| StreamEvent::OutputItemDone {
                sequence_number: n,
                output_index: call.output_index,
                item: &item,
            });
            self.response.output.push(item);
        }
    }

    /// `[DONE]`: every open item closes, then the final event.
    fn complete(&mut self) {
        self.close_text();
        self.close_calls();
        let (status, incomplete) = finish(self.finish_reason.as_deref());
        let reason = incomplete.as_ref().map_or(status, |d| d.reason);
        self.finish
            .set(FinishReasons::one(FinishReason::from_static(reason)));
        self.response.status = status;
        self.response.incomplete_details = incomplete;
        self.response.usage = Some(self.usage.unwrap_or_default());
        let response = self.response.clone();
        if status == "completed" {
            self.emit(|n| StreamEvent::Completed {
                sequence_number: n,
                response: &response,
            });
        } else {
            self.emit(|n| StreamEvent::Incomplete {
                sequence_number: n,
                response: &response,
            });
        }
        self.done = true;
    }

    /// The upstream failed: `response.failed` with what is known so far.
    fn fail(&mut self, message: String) {
        self.finish
            .set(FinishReasons::one(FinishReason::from_static("failed")));
        self.response.status = "failed";
        self.response.error = Some(ResponseError {
            code: "server_error".into(),
            message,
        });
        self.response.usage = self.usage;
        let response = self.response.clone();
        self.emit(|n| StreamEvent::Failed {
            sequence_number: n,
            response: &response,
        });
        self.done = true;
    }

    fn take_out(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }
}

fn message(id: &str, status: &'static str, content: Vec<OutputContent>) -> OutputItem {
    OutputItem::Message {
        id: id.to_string(),
        status,
        role: "assistant",
        content,
    }
}

fn function_call(call: &Call, status: &'static str) -> OutputItem {
    OutputItem::FunctionCall {
        id: call.id.clone(),
        call_id: call.call_id.clone(),
        name: call.name.clone(),
        arguments: if status == "completed" {
            call.arguments.clone()
        } else {
            String::new()
        },
        status,
    }
}

impl<B> Body for ResponsesStream<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if let Some(bytes) = this.take_out() {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if let Err(err) = this.parser.feed(&data, &mut this.events) {
                        this.fail(err.to_string());
                        continue;
                    }
                    for event in std::mem::take(&mut this.events) {
                        if !this.done {
                            this.on_event(&event.data);
                        }
                    }
                }
                Some(Err(err)) => this.fail(format!("the upstream stream broke: {}", err.into())),
                None => this.fail("the upstream stream ended before it was complete".into()),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.out.is_empty()
    }
}
