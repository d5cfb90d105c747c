//! Property: any split of a valid stream parses to the same events.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use proptest::prelude::*;
use provider_adapters::sse::{NdjsonParser, SseEvent, SseParser};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn sse_in_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
    let mut parser = SseParser::default();
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts {
        parser.feed(&bytes[at..cut], &mut out).unwrap();
        at = cut;
    }
    parser.feed(&bytes[at..], &mut out).unwrap();
    parser.finish(&mut out);
    out
}

fn ndjson_in_pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut parser = NdjsonParser::default();
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts {
        parser.feed(&bytes[at..cut], &mut out).unwrap();
        at = cut;
    }
    parser.feed(&bytes[at..], &mut out).unwrap();
    parser.finish(&mut out);
    out
}

/// An SSE text made of arbitrary events: names, multi-line data with non-ASCII
/// characters, comments, and any of the three line endings.
fn sse_text() -> impl Strategy<Value = Vec<u8>> {
    let line = "[a-zé✓{}\":, ]{0,12}";
    let event = (
        proptest::option::of("[a-z_]{1,8}"),
        proptest::collection::vec(line, 1..4),
        any::<bool>(),
    );
    (
        proptest::collection::vec(event, 1..6),
        prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
    )
        .prop_map(|(events, nl)| {
            let mut text = String::new();
            for (name, data, comment) in events {
                if comment {
                    text.push_str(": keep-alive");
                    text.push_str(nl);
                }
                if let Some(name) = name {
                    text.push_str(&format!("event: {name}{nl}"));
                }
                for line in data {
                    text.push_str(&format!("data: {line}{nl}"));
                }
                text.push_str(nl);
            }
            text.into_bytes()
        })
}

proptest! {
    #[test]
    fn any_split_of_the_fixture_streams_parses_the_same(cuts in proptest::collection::vec(any::<usize>(), 0..40)) {
        for name in ["openai_stream.sse", "anthropic_stream.sse", "anthropic_tool_stream.sse", "gemini_stream.sse"] {
            let bytes = fixture(name);
            prop_assert_eq!(sse_in_pieces(&bytes, &cuts), sse_in_pieces(&bytes, &[]));
        }
        let bytes = fixture("ollama_stream.ndjson");
        prop_assert_eq!(ndjson_in_pieces(&bytes, &cuts), ndjson_in_pieces(&bytes, &[]));
    }

    #[test]
    fn any_split_of_any_stream_parses_the_same(text in sse_text(), cuts in proptest::collection::vec(any::<usize>(), 0..20)) {
        let whole = sse_in_pieces(&text, &[]);
        prop_assert!(!whole.is_empty());
        prop_assert_eq!(sse_in_pieces(&text, &cuts), whole);
    }

    #[test]
    fn byte_by_byte_equals_whole(text in sse_text()) {
        let cuts: Vec<usize> = (0..text.len()).collect();
        prop_assert_eq!(sse_in_pieces(&text, &cuts), sse_in_pieces(&text, &[]));
    }
}
