use super::*;
use http_body_util::BodyExt;

const CHUNK: &str =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n";

fn watched(
    body: http_body_util::channel::Channel<Bytes, std::convert::Infallible>,
) -> ChatStream<http_body_util::channel::Channel<Bytes, std::convert::Infallible>> {
    ChatStream::new(
        body,
        Framing::Sse(SseParser::default()),
        Mode::Passthrough {
            finished: false,
            reasons: FinishReasons::default(),
            usage: None,
        },
        ClientFormat::OpenAi,
        Timeouts {
            first_token: Duration::from_secs(5),
            stall: Duration::from_millis(300),
            deadline: Instant::now() + Duration::from_secs(60),
        },
    )
}

/// Reads frames until one holds `needle` or the stream ends; returns the text and
/// when it came.
async fn until(
    stream: &mut Pin<
        Box<ChatStream<http_body_util::channel::Channel<Bytes, std::convert::Infallible>>>,
    >,
    needle: &str,
) -> (String, Instant) {
    let mut text = String::new();
    while let Some(frame) = stream.frame().await {
        if let Ok(data) = frame.map(|f| f.into_data()) {
            text.push_str(&String::from_utf8_lossy(&data.unwrap_or_default()));
        }
        if text.contains(needle) {
            break;
        }
    }
    (text, Instant::now())
}

/// The frames of a passed-through OpenAI stream fed `chunks`, then closed.
async fn frames(chunks: &[Bytes]) -> Vec<Bytes> {
    let (mut tx, body) = http_body_util::channel::Channel::new(chunks.len().max(1));
    for chunk in chunks {
        tx.send_data(chunk.clone()).await.unwrap_or_default();
    }
    drop(tx);
    let mut stream = Box::pin(watched(body));
    let mut out = Vec::new();
    while let Some(frame) = stream.frame().await {
        out.extend(frame.ok().and_then(|f| f.into_data().ok()));
    }
    out
}

fn text(frames: &[Bytes]) -> String {
    frames
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

#[test]
fn finish_reasons_are_read_as_plain_strings_only() {
    let mut reasons = FinishReasons::default();
    let mut finished = false;
    let data = br#"{"choices":[{"index":0,"finish_reason":"stop"},{"index":1,"finish_reason": "length"},{"index":2,"finish_reason":null}]}"#;
    watch_openai(data, &mut finished, &mut reasons);
    let names: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
    assert_eq!(names, ["stop", "length"]);
    assert!(!finished);
    // An escape is no reason any API sends: not taken.
    assert_eq!(string_at(br#""st\"op""#), None);
    assert_eq!(string_at(br#" "end_turn","#), Some("end_turn"));
    assert_eq!(
        anthropic_stop_reason(br#"{"type":"message_delta","delta":{"stop_reason":"tool_use"}}"#),
        Some("tool_use")
    );
}

#[tokio::test]
async fn whole_plain_events_go_to_the_client_as_they_came() {
    let two = Bytes::from(format!("{CHUNK}{CHUNK}"));
    let done = Bytes::from_static(b"data: [DONE]\n\n");
    let out = frames(&[two.clone(), done.clone()]).await;
    assert_eq!(out.len(), 2, "{out:?}");
    // The same bytes, not a copy.
    assert_eq!(out[0].as_ptr(), two.as_ptr());
    assert_eq!(out[1].as_ptr(), done.as_ptr());
    assert_eq!(text(&out), format!("{CHUNK}{CHUNK}data: [DONE]\n\n"));
}

#[tokio::test]
async fn other_chunks_are_reframed_and_the_end_is_watched_either_way() {
    // Split inside an event: the parser holds a partial event, so the chunk after
    // is re-framed too, and the bytes out are the bytes in.
    let (a, b) = CHUNK.split_at(20);
    let chunks = [a, b, CHUNK, "data: [DONE]\n\n"].map(|c| Bytes::from(c.to_owned()));
    let out = frames(&chunks).await;
    assert_eq!(text(&out), format!("{CHUNK}{CHUNK}data: [DONE]\n\n"));
    // Line ends, comments and a missing space are normalised (re-framed).
    let odd = Bytes::from_static(b": keep-alive\r\ndata:{\"a\":1}\r\n\r\ndata: [DONE]\n\n");
    let out = frames(std::slice::from_ref(&odd)).await;
    assert_ne!(out[0].as_ptr(), odd.as_ptr());
    assert_eq!(text(&out), "data: {\"a\":1}\n\ndata: [DONE]\n\n");
    // A finish reason seen as-is, then a close without `[DONE]`: it is added.
    let last = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    let out = frames(&[Bytes::from_static(CHUNK.as_bytes()), Bytes::from(last)]).await;
    assert_eq!(text(&out), format!("{CHUNK}{last}data: [DONE]\n\n"));
    // Neither: the stream was cut, and says so.
    let out = frames(&[Bytes::from_static(CHUNK.as_bytes())]).await;
    let all = text(&out);
    assert!(all.starts_with(CHUNK), "{all}");
    assert!(all.contains("stream_truncated"), "{all}");
    assert!(!all.contains("[DONE]"), "{all}");
}

#[tokio::test(start_paused = true)]
async fn a_steady_stream_is_never_taken_for_a_stalled_one() {
    let (mut tx, body) = http_body_util::channel::Channel::new(4);
    let mut stream = Box::pin(watched(body));
    let sender = tokio::spawn(async move {
        // Two seconds of chunks 200 ms apart: each gap is within the 300 ms bound,
        // though the whole is far beyond it.
        for _ in 0..10 {
            tx.send_data(Bytes::from_static(CHUNK.as_bytes()))
                .await
                .ok();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tx.send_data(Bytes::from_static(b"data: [DONE]\n\n"))
            .await
            .ok();
    });
    let (text, _) = until(&mut stream, "[DONE]").await;
    assert_eq!(text.matches("\"content\":\"x\"").count(), 10, "{text}");
    assert!(!text.contains("stalled"), "{text}");
    sender.await.unwrap_or_default();
}

#[tokio::test(start_paused = true)]
async fn a_stall_is_reported_one_bound_after_the_last_data() {
    let (mut tx, body) = http_body_util::channel::Channel::new(4);
    let mut stream = Box::pin(watched(body));
    let sender = tokio::spawn(async move {
        let mut last = Instant::now();
        for _ in 0..3 {
            tx.send_data(Bytes::from_static(CHUNK.as_bytes()))
                .await
                .ok();
            last = Instant::now();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // Then nothing, with the sender kept: a hung upstream, not a closed one.
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(tx);
        last
    });
    let (text, at) = until(&mut stream, "stalled").await;
    assert!(text.contains("upstream_timeout"), "{text}");
    assert_eq!(text.matches("\"content\":\"x\"").count(), 3, "{text}");
    let last = sender.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(at - last, Duration::from_millis(300), "{text}");
}
