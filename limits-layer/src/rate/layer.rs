use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::store::{Limits, Store};
use super::RateLimit;

/// What one request asks of the limiter: its key and its token estimate, optionally
/// with limits of its own (a deployment's `rpm`/`tpm`) instead of the layer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    pub(crate) key: Arc<str>,
    pub(crate) tokens: u64,
    pub(crate) limits: Option<Limits>,
}

impl Demand {
    /// One request under `key`, reserving no tokens.
    pub fn new(key: impl Into<Arc<str>>) -> Self {
        Self {
            key: key.into(),
            tokens: 0,
            limits: None,
        }
    }

    /// Reserves `tokens` up front (`max_tokens`, or an estimate of prompt + completion).
    pub fn tokens(mut self, tokens: u64) -> Self {
        self.tokens = tokens;
        self
    }

    /// Uses `limits` for this key instead of the layer's.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }
}

/// Applies [`RateLimit`] to a service: `demand(&request)` names the key and the token
/// estimate (`None`: not limited); the store counts.
#[derive(Clone)]
pub struct RateLimitLayer<F> {
    store: Arc<dyn Store>,
    limits: Limits,
    demand: F,
}

impl<F> RateLimitLayer<F> {
    /// Limits every key to `limits` (unless its [`Demand`] brings its own), counting in
    /// `store`.
    pub fn new(store: impl Store, limits: Limits, demand: F) -> Self {
        Self {
            store: Arc::new(store),
            limits,
            demand,
        }
    }

    /// As [`new`](Self::new), with a store already shared (several layers, one store).
    pub fn with_shared_store(store: Arc<dyn Store>, limits: Limits, demand: F) -> Self {
        Self {
            store,
            limits,
            demand,
        }
    }
}

impl<S, F: Clone> Layer<S> for RateLimitLayer<F> {
    type Service = RateLimit<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(inner, self.store.clone(), self.limits, self.demand.clone())
    }
}

impl<F> fmt::Debug for RateLimitLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
