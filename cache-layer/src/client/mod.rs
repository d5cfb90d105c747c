//! A client cache: build one service (a provider client) per key on first use, reuse
//! it until its TTL passes, and never break a caller by evicting.
//!
//! [`ClientCacheLayer`] wraps a [`NewService`] (anything that builds a service from a
//! key, a closure included) into a [`ClientCache`], itself a `NewService` that hands
//! out [`CachedService`]s sharing one cached instance per key. The cache is a
//! [`TtlCache`](crate::ttl::TtlCache) (200 entries, 600 s by default): eviction drops
//! the cache's `Arc`, and a `CachedService` in use keeps its client alive and working.
//!
//! Keys must capture everything that makes two clients differ; [`ClientKey`] does so
//! for HTTP clients (base URL, credential, timeouts, other settings) and keeps the
//! credential out of `Debug` output and labels.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use cache_layer::client::{ClientCacheLayer, ClientKey, NewService, Secret};
//! use tower_layer::Layer;
//!
//! #[derive(Clone)]
//! struct ProviderClient { base: String }
//!
//! let cache = ClientCacheLayer::new().layer(|key: ClientKey| ProviderClient {
//!     base: key.base_url().to_string(),
//! });
//! let key = ClientKey::new("https://api.openai.com/v1")
//!     .with_credential(Secret::new("sk-live-123"))
//!     .with_timeout(Duration::from_secs(600));
//!
//! let a = cache.new_service(key.clone());
//! let b = cache.new_service(key.clone());
//! assert!(std::sync::Arc::ptr_eq(a.get_ref(), b.get_ref())); // built once
//! assert!(!format!("{key:?}").contains("sk-live-123"));
//! ```

mod key;
mod service;

pub use self::key::{ClientKey, Secret};
pub use self::service::{CachedService, ClientCache, ClientCacheLayer, NewService};
