//! A checking JSON reader for the hot path: one pass over a byte slice that builds
//! nothing, reads the few values the gateway needs (a request's `model` and `stream`,
//! an answer's usage and finish reasons) and checks that the rest is JSON.
//!
//! It is a fast path in front of serde_json, not a replacement. Wherever its answer
//! could differ from serde_json's it gives up (`None`), and the caller parses the input
//! with serde_json as before, for the same values and the same error message. It gives
//! up on anything that is not JSON, on an escape in a key or in a string it reads (the
//! decoded text could spell a field's name), on a second copy of a field it reads, on a
//! value of another type than the one it reads, and on nesting deeper than
//! [`MAX_DEPTH`]. So it never accepts what serde_json rejects, and never reads another
//! value than serde_json would.
//!
//! Like serde_json's own skipping of ignored values, strings it skips are checked for
//! control characters and valid escapes, not for UTF-8; keys and the strings it reads
//! are checked for UTF-8, as serde_json does when it reads them.

/// How deep a value may nest before the reader gives up (serde_json's limit is 128).
pub(crate) const MAX_DEPTH: usize = 100;

/// A position in a JSON text.
pub(crate) struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    /// At the start of `b`.
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Self { b, i: 0 }
    }

    /// Past JSON's whitespace (space, tab, line feed, carriage return).
    #[inline(always)]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\n' | b'\t' | b'\r') {
                break;
            }
            self.i += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        // Compact JSON (what programs send) has no whitespace: one test.
        match self.b.get(self.i) {
            Some(&c) if c > b' ' => Some(c),
            _ => {
                self.ws();
                self.b.get(self.i).copied()
            }
        }
    }

    /// Past `c` (after whitespace); `None` if something else is next.
    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Nothing but whitespace is left.
    pub(crate) fn end(mut self) -> Option<()> {
        self.ws();
        (self.i == self.b.len()).then_some(())
    }

    /// A string (its opening quote next): its raw contents, and whether they have
    /// escapes (checked, not decoded).
    #[inline(always)]
    fn string(&mut self) -> Option<(&'a [u8], bool)> {
        let b = self.b;
        let start = self.i + 1;
        let mut i = special(b, start);
        // The usual string: no escape, so the first special byte ends it.
        if b.get(i) == Some(&b'"') {
            self.i = i + 1;
            return Some((&b[start..i], false));
        }
        loop {
            match *b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some((&b[start..i], true));
                }
                b'\\' => match *b.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' if b.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => i += 6,
                    _ => return None,
                },
                // A control character, which JSON strings may not hold as they are.
                _ => return None,
            }
            i = special(b, i);
        }
    }

    /// Skips one value, checking it; `depth` is how many more levels it may open.
    pub(crate) fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                let depth = depth.checked_sub(1)?;
                // Keys of skipped objects are skipped like serde_json skips them.
                self.members(false, |s, _| s.skip(depth))
            }
            b'[' => {
                let depth = depth.checked_sub(1)?;
                self.elements(|s| s.skip(depth))
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Past `word` (`true`, `false` or `null`), which must be next.
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    /// A number as JSON writes it: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let b = self.b;
        let mut i = self.i;
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match *b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits(i + 1),
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return None;
            }
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return None;
            }
            i = end;
        }
        // What follows (a digit after a leading `0`, say) is for the caller to refuse.
        self.i = i;
        Some(())
    }

    /// An object (next), each member's key handed to `read`, which reads its value.
    /// Gives up on a key with escapes, which might spell a field `read` looks for.
    pub(crate) fn object(
        &mut self,
        read: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        self.members(true, read)
    }

    /// An object's members; with `checked_keys`, keys with escapes or not UTF-8 are
    /// given up on.
    fn members(
        &mut self,
        checked_keys: bool,
        mut read: impl FnMut(&mut Self, &'a [u8]) -> Option<()>,
    ) -> Option<()> {
        if self.open(b'{', b'}')? {
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let (key, escaped) = self.string()?;
            if checked_keys && (escaped || (!key.is_ascii() && std::str::from_utf8(key).is_err())) {
                return None;
            }
            self.eat(b':')?;
            read(self, key)?;
            if self.next(b'}')? {
                return Some(());
            }
        }
    }

    /// An array (next), `read` called for each element, which reads it.
    pub(crate) fn elements(&mut self, mut read: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if self.open(b'[', b']')? {
            return Some(());
        }
        loop {
            read(self)?;
            if self.next(b']')? {
                return Some(());
            }
        }
    }

    /// An object's or array's opening `open` (next): whether `close` follows at once.
    fn open(&mut self, open: u8, close: u8) -> Option<bool> {
        self.eat(open)?;
        Some(self.eat(close).is_some())
    }

    /// After a member or element: `true` at the closing `close`, `false` after a comma.
    fn next(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                Some(false)
            }
            c if c == close => {
                self.i += 1;
                Some(true)
            }
            _ => None,
        }
    }

    /// A string without escapes, as text (valid UTF-8); `None` for anything else.
    pub(crate) fn plain_str(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        match self.string()? {
            (s, false) => std::str::from_utf8(s).ok(),
            (_, true) => None,
        }
    }

    /// A non-negative integer that fits in a `u64`; `None` for any other value (serde
    /// refuses fractions, exponents and negatives for a `u64` too).
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        self.number()?;
        let digits = &self.b[start..self.i];
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits.iter().try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    }

    /// `null` (as `None`) or a [`u64`](Self::u64).
    pub(crate) fn opt_u64(&mut self) -> Option<Option<u64>> {
        if self.null() {
            Some(None)
        } else {
            self.u64().map(Some)
        }
    }

    /// `true` or `false`.
    pub(crate) fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// Whether the next value is `null`, which is then consumed (anything else is not).
    pub(crate) fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.literal(b"null").is_some()
    }
}

/// Sets a field read once: `None` (give up) if it was already read, as serde's derived
/// readers refuse a duplicate field.
pub(crate) fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// The index of the first `"`, `\` or control character at or after `i` (`b.len()` if
/// none): eight bytes at a time.
#[inline(always)]
fn special(b: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let quote = v ^ (LO * u64::from(b'"'));
        let slash = v ^ (LO * u64::from(b'\\'));
        // Bytes equal to zero (after the xor) or below 0x20. Below the first such byte
        // no borrow crosses bytes, so its flag is exact.
        let found = ((quote.wrapping_sub(LO) & !quote)
            | (slash.wrapping_sub(LO) & !slash)
            | (v.wrapping_sub(LO * 0x20) & !v))
            & HI;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
pub(crate) mod tests;
