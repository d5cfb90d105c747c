//! Request ids and the overhead header's number, written without allocating more
//! than the header value.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;

/// `d` in milliseconds with three decimals (`"0.042"`), without float formatting:
/// the digits of its microseconds, right to left, with the point after three.
pub(super) fn millis(d: Duration) -> HeaderValue {
    // In `u64` (584 000 years of microseconds): `u128` division is a library call per
    // digit.
    let mut micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let mut text = [0u8; 48];
    let mut at = text.len();
    for place in 0.. {
        if place == 3 {
            at -= 1;
            text[at] = b'.';
        }
        at -= 1;
        text[at] = b'0' + (micros % 10) as u8;
        micros /= 10;
        if micros == 0 && place >= 3 {
            break;
        }
    }
    HeaderValue::from_bytes(&text[at..]).unwrap_or(HeaderValue::from_static("0.000"))
}

/// Request ids: a random per-process prefix and a counter (`"<16 hex>-<hex>"`),
/// cheaper than a UUID and unique within the process.
#[derive(Debug)]
pub(super) struct RequestIds {
    prefix: [u8; 16],
    next: AtomicU64,
}

impl RequestIds {
    pub(super) fn new() -> Self {
        let random = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        let mut prefix = [0u8; 16];
        hex(random, &mut prefix);
        Self {
            prefix,
            next: AtomicU64::new(0),
        }
    }

    pub(super) fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 33];
        buf[..16].copy_from_slice(&self.prefix);
        buf[16] = b'-';
        let mut digits = [0u8; 16];
        hex(n, &mut digits);
        // Counter without leading zeros (at least one digit).
        let skip = digits.iter().take(15).take_while(|&&d| d == b'0').count();
        let len = 17 + 16 - skip;
        buf[17..len].copy_from_slice(&digits[skip..]);
        // Owned in one allocation that its clones share: the id goes on the request
        // and, cloned, on the response.
        let id = Bytes::from_owner(IdBytes { buf, len });
        HeaderValue::from_maybe_shared(id).unwrap_or(HeaderValue::from_static("0"))
    }
}

/// The bytes of one request id.
struct IdBytes {
    buf: [u8; 33],
    len: usize,
}

impl AsRef<[u8]> for IdBytes {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// `n` as 16 lowercase hex digits.
fn hex(n: u64, out: &mut [u8; 16]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = DIGITS[((n >> (60 - 4 * i)) & 0xf) as usize];
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_is_written_in_milliseconds_with_three_decimals() {
        assert_eq!(millis(Duration::from_micros(0)), "0.000");
        assert_eq!(millis(Duration::from_micros(42)), "0.042");
        assert_eq!(millis(Duration::from_micros(1_234_567)), "1234.567");
        assert_eq!(millis(Duration::from_nanos(999)), "0.000");
    }

    #[test]
    fn request_ids_are_a_prefix_and_a_counter() {
        let ids = RequestIds::new();
        let (a, b) = (ids.next(), ids.next());
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        assert_eq!(a.len(), 18, "{a}");
        assert_eq!(&a[..17], &b[..17]);
        assert_eq!((&a[17..], &b[17..]), ("0", "1"));
        ids.next.store(0xabc_def, Ordering::Relaxed);
        assert!(ids.next().to_str().unwrap().ends_with("-abcdef"));
        ids.next.store(u64::MAX, Ordering::Relaxed);
        assert!(ids.next().to_str().unwrap().ends_with("-ffffffffffffffff"));
    }
}
