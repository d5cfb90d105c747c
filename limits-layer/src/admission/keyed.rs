use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{Acquire, AdmissionMetrics, Controller, Limits, Overloaded};

/// Default most keys tracked by a [`KeyedController`] at once.
pub const DEFAULT_MAX_KEYS: usize = 1000;

/// Admission per key (per model, per API key…): each key has its own
/// [`Controller`], with the default limits or its own.
///
/// The set of keys is bounded (`max_keys`, default [`DEFAULT_MAX_KEYS`]): when it is
/// full, keys with nothing in flight or queued are forgotten (with their counters);
/// if every key is busy, a request for a new key is rejected with [`Overloaded`].
/// Keys given their own limits with [`with_limits`](Self::with_limits) are never
/// forgotten. Cloning is cheap and clones share everything.
pub struct KeyedController<K> {
    inner: Arc<Inner<K>>,
}

struct Inner<K> {
    default: Limits,
    max_keys: usize,
    overrides: HashMap<K, Limits>,
    controllers: Mutex<HashMap<K, Controller>>,
    rejected_keys: AtomicU64,
}

impl<K: Hash + Eq + Clone> KeyedController<K> {
    /// Every key gets `default` limits; at most `max_keys` keys at once.
    ///
    /// # Panics
    ///
    /// If `max_keys` or `default.max_in_flight` is zero.
    pub fn new(default: Limits, max_keys: usize) -> Self {
        assert!(max_keys > 0, "max_keys must be at least 1");
        assert!(
            default.max_in_flight > 0,
            "max_in_flight must be at least 1"
        );
        Self {
            inner: Arc::new(Inner {
                default,
                max_keys,
                overrides: HashMap::new(),
                controllers: Mutex::new(HashMap::new()),
                rejected_keys: AtomicU64::new(0),
            }),
        }
    }

    /// Gives `key` its own limits. Call before sharing the controller.
    ///
    /// # Panics
    ///
    /// If the controller was already cloned, or `limits.max_in_flight` is zero.
    pub fn with_limits(mut self, key: K, limits: Limits) -> Self {
        assert!(limits.max_in_flight > 0, "max_in_flight must be at least 1");
        let inner = Arc::get_mut(&mut self.inner)
            .expect("with_limits must be called before the controller is shared");
        inner.overrides.insert(key, limits);
        self
    }

    /// Asks for a slot of `key`'s controller; see [`Controller::acquire`].
    pub fn acquire(&self, key: &K) -> Acquire {
        match self.controller(key) {
            Some(controller) => controller.acquire(),
            None => {
                self.inner.rejected_keys.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("admission: too many distinct keys busy, rejecting");
                Acquire::done(Err(Overloaded::new(self.inner.default.retry_after).into()))
            }
        }
    }

    fn controller(&self, key: &K) -> Option<Controller> {
        let inner = &self.inner;
        let mut controllers = inner.controllers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(controller) = controllers.get(key) {
            return Some(controller.clone());
        }
        if controllers.len() >= inner.max_keys {
            controllers.retain(|k, c| !c.is_idle() || inner.overrides.contains_key(k));
            if controllers.len() >= inner.max_keys {
                return None;
            }
        }
        let limits = inner.overrides.get(key).unwrap_or(&inner.default).clone();
        let controller = Controller::new(limits);
        controllers.insert(key.clone(), controller.clone());
        Some(controller)
    }

    /// Metrics of every key tracked now.
    pub fn metrics_by_key(&self) -> Vec<(K, AdmissionMetrics)> {
        let controllers = self
            .inner
            .controllers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        controllers
            .iter()
            .map(|(k, c)| (k.clone(), c.metrics()))
            .collect()
    }

    /// Metrics summed over the keys tracked now; `rejected_overload` also counts
    /// requests refused because every key was busy.
    pub fn metrics(&self) -> AdmissionMetrics {
        let mut total = AdmissionMetrics::default();
        for (_, metrics) in self.metrics_by_key() {
            total.add(&metrics);
        }
        total.rejected_overload += self.inner.rejected_keys.load(Ordering::Relaxed);
        total
    }

    /// Keys tracked now.
    pub fn keys(&self) -> usize {
        self.inner
            .controllers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl<K> Clone for KeyedController<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K> fmt::Debug for KeyedController<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedController")
            .field("default", &self.inner.default)
            .field("max_keys", &self.inner.max_keys)
            .finish_non_exhaustive()
    }
}
