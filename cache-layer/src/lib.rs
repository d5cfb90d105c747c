//! Bounded TTL caches whose eviction never breaks a caller: a generic [`TtlCache`],
//! a client cache, and an HTTP response cache layer.
//!
//! A gateway elsewhere closed the clients its cache evicted; code still holding them
//! failed with "client has been closed" and live streams were cut every TTL period.
//! Here the cache stores `Arc`s and eviction only drops the cache's own reference: a
//! holder keeps a working value, and the value is dropped (its sockets closed) when
//! the last holder lets go. There is no eviction hook that could do otherwise.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use cache_layer::{CacheConfig, TtlCache};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cache = TtlCache::new(CacheConfig { capacity: 1, ..CacheConfig::default() });
//! let held = cache.insert("openai", vec![1, 2, 3]).unwrap();
//! cache.insert("anthropic", vec![4]).unwrap(); // evicts "openai" for room
//! assert!(cache.get("openai").is_none());
//! assert_eq!(*held, [1, 2, 3]); // the holder's value is untouched
//! # }
//! ```
//!
//! # Pieces
//!
//! - [`ttl`]: [`TtlCache`] itself (200 entries, 600 s, 1 MiB per item by default).
//! - [`client`]: build one client per key and reuse it ([`client::ClientCacheLayer`]).
//! - [`response`]: [`response::ResponseCacheLayer`] for successful non-streaming
//!   responses, per caller.

pub mod client;
pub mod response;
pub mod ttl;

pub use self::ttl::{CacheConfig, CacheMetrics, TtlCache};

/// The boxed error type of this crate's services.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The README's example, run as a doctest so the README stays true (test builds only).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctest;
