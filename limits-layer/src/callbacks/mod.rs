//! A capped registry of named callbacks fed through a bounded, non-blocking event queue.
//!
//! Other gateways registered logging hooks per request until they had thousands, and
//! fed them through unbounded queues until the process died. Here:
//!
//! - At most `max_callbacks` (default 100) callbacks; registering more, or a name
//!   twice, is a [`RegisterError`] that says so.
//! - [`Registry::emit`] never waits and never spawns: it puts the event on a bounded
//!   queue (default 1000) or, when that is full, drops it and counts the drop.
//! - One dispatcher task hands the queued events to every callback's own bounded queue
//!   in rounds at most a millisecond apart while events keep coming (so a busy
//!   gateway pays one task wakeup per round, not per request), and
//!   each callback runs on its own task (started at registration, never per request).
//!   A slow callback fills only its own queue (its extra events are dropped and
//!   counted); a callback taking longer than `call_timeout` is cut off and counted; a
//!   panicking callback is caught and counted. None of them stops the others.
//!
//! The tasks end when the last [`Registry`] clone is dropped (after draining what is
//! queued), or, for one callback, when it is unregistered.
//!
//! # Example
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use limits_layer::callbacks::{callback_fn, Event, Registry, RegistryConfig};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let registry = Registry::new(RegistryConfig::default());
//! let seen = Arc::new(AtomicU64::new(0));
//! let counter = seen.clone();
//! registry
//!     .register("count", callback_fn(move |_event: &Event| {
//!         counter.fetch_add(1, Ordering::Relaxed);
//!     }))
//!     .unwrap();
//! assert!(registry.register("count", callback_fn(|_: &Event| {})).is_err()); // duplicate
//!
//! registry.emit(Event::new("/v1/chat/completions"));
//! # while seen.load(Ordering::Relaxed) == 0 { tokio::time::sleep(std::time::Duration::from_millis(1)).await; }
//! assert_eq!(registry.metrics().emitted, 1);
//! # }
//! ```

mod event;
mod facts;
mod finish;
mod registry;

pub use self::event::{
    Event, ModelName, Outcome, OutcomeCell, Route, UpstreamInfo, UpstreamLatency, Usage, UsageCell,
};
pub use self::facts::ResponseFacts;
pub use self::finish::{FinishReason, FinishReasons, FinishReasonsCell};
pub use self::registry::{
    callback_fn, Callback, CallbackMetrics, FnCallback, RegisterError, Registry, RegistryConfig,
    DEFAULT_CALL_TIMEOUT, DEFAULT_EVENT_QUEUE, DEFAULT_MAX_CALLBACKS,
};
