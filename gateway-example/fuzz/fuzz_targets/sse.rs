//! Any bytes, split anywhere, parse to the same events as in one piece.
#![no_main]
use libfuzzer_sys::fuzz_target;
use provider_adapters::sse::SseParser;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let run = |pieces: &[&[u8]]| {
        let mut parser = SseParser::new(4096);
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
    let whole = run(&[rest]);
    let split = run(&[&rest[..at], &rest[at..]]);
    if let (Some(whole), Some(split)) = (whole, split) {
        assert_eq!(whole, split);
    }
});
