//! Any bytes, split anywhere, give the same NDJSON lines as in one piece.
#![no_main]
use libfuzzer_sys::fuzz_target;
use provider_adapters::sse::NdjsonParser;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let run = |pieces: &[&[u8]]| {
        let mut parser = NdjsonParser::new(4096);
        let mut out = Vec::new();
        for piece in pieces {
            if parser.feed(piece, &mut out).is_err() {
                return None;
            }
        }
        parser.finish(&mut out);
        Some(out)
    };
    let at = cut as usize % (rest.len() + 1);
    if let (Some(whole), Some(split)) = (run(&[rest]), run(&[&rest[..at], &rest[at..]])) {
        assert_eq!(whole, split);
    }
});
