use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::state::Shared;
use super::{ConnectionLimit, ConnectionMetrics};

/// Default global cap on open connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 300;
/// Default cap on open connections per host (scheme + host + port).
pub const DEFAULT_MAX_CONNECTIONS_PER_HOST: usize = 50;

/// Applies a [`ConnectionLimit`] to a connector.
///
/// Cloning is cheap, and every clone (and every service it makes) shares one budget.
#[derive(Clone)]
pub struct ConnectionLimitLayer {
    shared: Arc<Shared>,
    timeout: Option<Duration>,
}

impl ConnectionLimitLayer {
    /// A limit of `max_connections` open sockets in all, and `max_per_host` per host.
    /// Waiting for a permit has no timeout; see [`with_timeout`](Self::with_timeout).
    ///
    /// # Panics
    ///
    /// If either cap is zero: such a limit could never connect.
    pub fn new(max_connections: usize, max_per_host: usize) -> Self {
        Self {
            shared: Arc::new(Shared::new(max_connections, max_per_host)),
            timeout: None,
        }
    }

    /// Bounds how long a connect waits for its permits; past it the connect fails with
    /// [`LimitTimeout`](super::LimitTimeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A snapshot of the shared gauges and counters.
    pub fn metrics(&self) -> ConnectionMetrics {
        self.shared.metrics()
    }

    /// True if every global permit is taken.
    pub(crate) fn global_exhausted(&self) -> bool {
        self.shared.global.available_permits() == 0
    }

    /// True if no connection permit of `key`'s host is free right now.
    pub(crate) fn host_full(&self, key: &super::HostKey) -> bool {
        self.shared.host(key).available_permits() == 0
    }

    /// True if `key`'s host has a connection open.
    pub(crate) fn host_has_connection(&self, key: &super::HostKey) -> bool {
        self.shared.host(key).available_permits() < self.shared.max_per_host
    }

    /// True if a connect is waiting for a global permit.
    pub(crate) fn global_wanted(&self) -> bool {
        self.shared
            .waiting_global
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    }
}

impl Default for ConnectionLimitLayer {
    /// [`DEFAULT_MAX_CONNECTIONS`] and [`DEFAULT_MAX_CONNECTIONS_PER_HOST`], with a
    /// 5 second wait timeout.
    fn default() -> Self {
        Self::new(DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_HOST)
            .with_timeout(Duration::from_secs(5))
    }
}

impl<C> Layer<C> for ConnectionLimitLayer {
    type Service = ConnectionLimit<C>;

    fn layer(&self, inner: C) -> Self::Service {
        ConnectionLimit::from_parts(inner, self.shared.clone(), self.timeout)
    }
}

impl fmt::Debug for ConnectionLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionLimitLayer")
            .field("max_connections", &self.shared.max_total)
            .field("max_connections_per_host", &self.shared.max_per_host)
            .field("timeout", &self.timeout)
            .finish()
    }
}
