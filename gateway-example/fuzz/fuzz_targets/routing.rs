//! Any request body through model extraction and the model rewrite: an error or a
//! body that still parses, never a panic.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use provider_adapters::request::{edit_top_level, peek};

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    if peek(&body).is_ok() {
        let edited = edit_top_level(&body, &[("model", "\"upstream\"")], &["api_key"])
            .expect("a body peek accepts can be edited");
        let again = peek(&edited).expect("an edited body still parses");
        assert_eq!(again.model, "upstream");
    }
});
