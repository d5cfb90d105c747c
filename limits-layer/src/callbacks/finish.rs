//! Why an answer ended, as its client was told: [`FinishReason`], the list an
//! [`Event`](super::Event) carries ([`FinishReasons`]) and the response extension a
//! stream fills when its final event is decoded ([`FinishReasonsCell`]).

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

/// One finish reason as the client received it (`stop`, `length`, `tool_calls`,
/// `content_filter` in the OpenAI formats; `end_turn`, `max_tokens`, `tool_use`, … in
/// Anthropic's). The well-known values cost no allocation.
///
/// ```
/// use limits_layer::callbacks::FinishReason;
///
/// let reason = FinishReason::new("tool_calls");
/// assert_eq!(reason, "tool_calls");
/// assert_eq!(reason.to_string(), "tool_calls");
/// assert_eq!(FinishReason::new("a_new_reason").as_str(), "a_new_reason");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FinishReason(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Static(&'static str),
    Text(Arc<str>),
}

/// The values that cost nothing to record: OpenAI's, Anthropic's and the Responses
/// API's statuses.
const KNOWN: &[&str] = &[
    "stop",
    "length",
    "tool_calls",
    "content_filter",
    "function_call",
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "completed",
    "incomplete",
    "failed",
    "cancelled",
    "max_output_tokens",
];

impl FinishReason {
    /// A reason from its text (a known value is shared, anything else copied once).
    pub fn new(text: &str) -> Self {
        match KNOWN.iter().find(|known| **known == text) {
            Some(known) => Self(Repr::Static(known)),
            None => Self(Repr::Text(text.into())),
        }
    }

    /// A reason from static text (no allocation).
    pub const fn from_static(text: &'static str) -> Self {
        Self(Repr::Static(text))
    }

    /// The reason's text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(text) => text,
            Repr::Text(text) => text,
        }
    }
}

impl Deref for FinishReason {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for FinishReason {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for FinishReason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for FinishReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The finish reasons of one answer, one per choice in choice order (most answers
/// have one, which is kept inline: recording it allocates nothing). Also a response
/// extension, for handlers that know the reasons when the response head is made.
///
/// ```
/// use limits_layer::callbacks::{FinishReason, FinishReasons};
///
/// let mut reasons = FinishReasons::default();
/// assert!(reasons.is_empty());
/// reasons.push(FinishReason::new("stop"));
/// reasons.push(FinishReason::new("length"));
/// assert_eq!(reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(), ["stop", "length"]);
/// assert_eq!(reasons.to_string(), "stop,length");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FinishReasons(Reasons);

#[derive(Clone, PartialEq, Eq)]
enum Reasons {
    /// None or one: the usual case, inline.
    One(Option<FinishReason>),
    /// Two or more (`n` > 1).
    Many(Vec<FinishReason>),
}

impl Default for Reasons {
    fn default() -> Self {
        Self::One(None)
    }
}

impl FinishReasons {
    /// One reason.
    pub fn one(reason: FinishReason) -> Self {
        Self(Reasons::One(Some(reason)))
    }

    /// Adds the next choice's reason.
    pub fn push(&mut self, reason: FinishReason) {
        match &mut self.0 {
            Reasons::One(slot @ None) => *slot = Some(reason),
            Reasons::One(Some(first)) => {
                let first = first.clone();
                self.0 = Reasons::Many(vec![first, reason]);
            }
            Reasons::Many(all) => all.push(reason),
        }
    }

    /// The reasons, in choice order.
    pub fn iter(&self) -> std::slice::Iter<'_, FinishReason> {
        self.as_slice().iter()
    }

    /// The reasons, in choice order.
    pub fn as_slice(&self) -> &[FinishReason] {
        match &self.0 {
            Reasons::One(one) => one.as_slice(),
            Reasons::Many(all) => all,
        }
    }

    /// The first choice's reason.
    pub fn first(&self) -> Option<&FinishReason> {
        self.as_slice().first()
    }

    /// How many reasons.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether no reason was recorded.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

impl FromIterator<FinishReason> for FinishReasons {
    fn from_iter<I: IntoIterator<Item = FinishReason>>(iter: I) -> Self {
        let mut reasons = Self::default();
        for reason in iter {
            reasons.push(reason);
        }
        reasons
    }
}

impl fmt::Debug for FinishReasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Comma-separated, as a log line shows them.
impl fmt::Display for FinishReasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, reason) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(reason.as_str())?;
        }
        Ok(())
    }
}

/// Response extension for finish reasons learned while streaming: whoever decodes the
/// stream sets it at its final event, and the event (emitted when the body ends) reads
/// it.
#[derive(Debug, Clone, Default)]
pub struct FinishReasonsCell(pub Arc<OnceLock<FinishReasons>>);

impl FinishReasonsCell {
    /// Records the reasons (the first record wins).
    pub fn set(&self, reasons: FinishReasons) {
        let _ = self.0.set(reasons);
    }

    /// The recorded reasons, if any.
    pub fn get(&self) -> Option<&FinishReasons> {
        self.0.get()
    }
}
