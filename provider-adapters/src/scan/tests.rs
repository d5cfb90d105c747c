//! The reader's own tests, and what the tests of its callers (`usage`, `request`) share:
//! the fixtures' one-byte edits, generated JSON, and the check that the scan reads what
//! serde reads.

use super::*;

/// Whether the text is JSON to the reader (`None`: it gave up).
fn checks(text: &[u8]) -> Option<()> {
    let mut s = Scan::new(text);
    s.skip(MAX_DEPTH)?;
    s.end()
}

#[test]
fn it_accepts_json_and_gives_up_on_anything_else() {
    for ok in [
        &br#"{"a":[1,-2.5e+3,0,0.1,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9"],"b":{}}"#[..],
        b" [ ] ",
        b"\"\xc3\xa9 long enough to take the eight-byte path\"",
        b"-0",
        b"1E9",
    ] {
        assert_eq!(checks(ok), Some(()), "{}", String::from_utf8_lossy(ok));
        assert!(serde_json::from_slice::<serde::de::IgnoredAny>(ok).is_ok());
    }
    for bad in [
        &b"{\"a\":1,}"[..],
        b"[1,]",
        b"01",
        b"1.",
        b"1e",
        b"-",
        b"+1",
        b".5",
        b"\"a\x01b\"",
        b"\"\\x\"",
        b"\"\\u12g4\"",
        b"\"unterminated",
        b"{\"a\" 1}",
        b"{1:2}",
        b"nul",
        b"truex",
        b"[1] [2]",
        b"",
        b"\xef\xbb\xbf{}",
    ] {
        assert_eq!(checks(bad), None, "{}", String::from_utf8_lossy(bad));
        assert!(serde_json::from_slice::<serde::de::IgnoredAny>(bad).is_err());
    }
}

#[test]
fn nesting_deeper_than_the_limit_is_left_to_serde() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert_eq!(checks(deep(MAX_DEPTH).as_bytes()), Some(()));
    assert_eq!(checks(deep(MAX_DEPTH + 1).as_bytes()), None);
}

#[test]
fn the_eight_byte_search_finds_the_first_special_byte_at_every_offset() {
    for at in 0..24 {
        for c in [b'"', b'\\', 0x00, 0x1f] {
            let mut text = vec![b'a'; 24];
            // Bytes that look special to a sloppy bit trick: 0x80, 0xa2, 0xdc, 0x20.
            text[..at]
                .iter_mut()
                .zip([0x80, 0xa2, 0xdc, 0x20].iter().cycle())
                .for_each(|(b, x)| *b = *x);
            text[at] = c;
            assert_eq!(special(&text, 0), at, "{c:#x} at {at}");
        }
    }
    assert_eq!(special(&[b'a'; 20], 3), 20);
}

/// JSON texts for the differential property tests: any value, keys drawn mostly
/// from the fields the readers look for (also escaped, so they spell a field),
/// numbers at and past `u64`'s ends, strings with escapes and non-ASCII, and
/// whitespace between tokens. Objects may repeat a key.
pub(crate) fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    const KEYS: &[&str] = &[
        "usage",
        "choices",
        "finish_reason",
        "stop_reason",
        "prompt_tokens",
        "completion_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
        "cached_tokens",
        "reasoning_tokens",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "model",
        "stream",
        "api_key",
        "messages",
        "us\\u0061ge",
        "model\\n",
        "caf\u{e9}",
        "",
    ];
    let ws = prop::sample::select(vec!["", "", "", " ", "\n  ", "\t", "\r\n"]);
    let string = prop_oneof![
        prop::sample::select(KEYS.to_vec()).prop_map(String::from),
        "[a-z]{0,12}",
        prop::sample::select(vec![
            "stop",
            "length",
            "tool_calls",
            "a\\\"b",
            "\\u00e9\\ud83d\\ude00",
            "\u{4f60}\u{597d}",
            "tab\\tnew\\nline",
            "\\/",
        ])
        .prop_map(String::from),
    ]
    .prop_map(|s| format!("\"{s}\""));
    let number = prop::sample::select(vec![
        "0",
        "19",
        "-1",
        "1.5",
        "1e3",
        "2E-2",
        "18446744073709551615",
        "18446744073709551616",
        "-0",
        "1024",
    ])
    .prop_map(String::from);
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        number.clone(),
        number.clone(),
        string.clone(),
    ];
    // Usage objects and choices as providers send them, give or take a field, so
    // the readers of both get to read them.
    let count = prop_oneof![number.clone(), Just("null".to_string())];
    let counts = |keys: &'static [&'static str], inner: BoxedStrategy<String>| {
        prop::collection::vec((prop::sample::select(keys), inner), 0..5).prop_map(|m| {
            let m: Vec<_> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", m.join(","))
        })
    };
    let details = counts(
        &["cached_tokens", "reasoning_tokens", "audio_tokens"],
        count.clone().boxed(),
    );
    let usage_value = prop_oneof![count.clone(), details.clone()].boxed();
    let usage = counts(
        &[
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "prompt_tokens_details",
            "completion_tokens_details",
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ],
        usage_value,
    );
    let reason = prop_oneof![string.clone(), Just("null".to_string())];
    let choice = counts(
        &["finish_reason", "index", "message"],
        reason.clone().boxed(),
    );
    let choices = prop::collection::vec(choice, 0..3).prop_map(|c| format!("[{}]", c.join(",")));
    let known = prop_oneof![
        usage.prop_map(|u| format!("\"usage\":{u}")),
        choices.prop_map(|c| format!("\"choices\":{c}")),
        reason.prop_map(|r| format!("\"stop_reason\":{r}")),
    ];
    leaf.prop_recursive(5, 48, 6, move |inner| {
        let member = prop_oneof![
            (string.clone(), ws.clone(), inner.clone(), ws.clone())
                .prop_map(|(k, w1, v, w2)| format!("{w1}{k}{w2}:{w1}{v}{w2}")),
            known.clone(),
        ];
        prop_oneof![
            prop::collection::vec(inner, 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(member, 0..6).prop_map(|m| format!("{{{}}}", m.join(","))),
        ]
    })
}

/// Every variant of `text` with one byte deleted, replaced or inserted, and cut off
/// at every length: what the differential tests feed both readers.
pub(crate) fn mutations(text: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    const BYTES: &[u8] = b"\"\\{}[],:0-1.eE tnf\x01\xff\xc3u";
    (0..=text.len()).flat_map(move |at| {
        let cut = std::iter::once(text[..at].to_vec());
        let deleted = (at < text.len()).then(|| [&text[..at], &text[at + 1..]].concat());
        let edits = BYTES.iter().flat_map(move |&b| {
            let inserted = [&text[..at], &[b][..], &text[at..]].concat();
            let replaced = (at < text.len()).then(|| {
                let mut v = text.to_vec();
                v[at] = b;
                v
            });
            std::iter::once(inserted).chain(replaced)
        });
        cut.chain(deleted).chain(edits)
    })
}

/// [`json_text`], as bytes, with one arbitrary byte inserted anywhere half the time.
pub(crate) fn json_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    (
        json_text(),
        proptest::option::of((0usize..4096, any::<u8>())),
    )
        .prop_map(|(text, edit)| {
            let mut bytes = text.into_bytes();
            if let Some((at, byte)) = edit {
                bytes.insert(at % (bytes.len() + 1), byte);
            }
            bytes
        })
}

/// Whether the scan read `text`. If it did, serde must read the same: a panic says
/// what differs.
pub(crate) fn same_as_serde<T, E>(
    text: &[u8],
    scan: impl Fn(&[u8]) -> Option<T>,
    parse: impl Fn(&[u8]) -> Result<T, E>,
) -> bool
where
    T: PartialEq + std::fmt::Debug,
    E: std::fmt::Display,
{
    let Some(read) = scan(text) else {
        return false;
    };
    let shown = String::from_utf8_lossy(text);
    match parse(text) {
        Ok(parsed) => assert_eq!(read, parsed, "{shown}"),
        Err(e) => panic!("the scan accepted what serde refuses ({e}): {shown}"),
    }
    true
}

/// [`same_as_serde`] for `text`, which the scan must read, and every one of its
/// [`mutations`], of which it must read at least a quarter (most one-byte changes
/// inside strings keep the text JSON): else the test would check little.
pub(crate) fn same_as_serde_on_edits<T, E>(
    text: &[u8],
    scan: impl Fn(&[u8]) -> Option<T>,
    parse: impl Fn(&[u8]) -> Result<T, E>,
) where
    T: PartialEq + std::fmt::Debug,
    E: std::fmt::Display,
{
    assert!(
        same_as_serde(text, &scan, &parse),
        "the scan read {}",
        String::from_utf8_lossy(text)
    );
    let (mut read, mut total) = (0, 0);
    for text in mutations(text) {
        total += 1;
        read += usize::from(same_as_serde(&text, &scan, &parse));
    }
    assert!(read * 4 > total, "the scan read {read} of {total}");
}
