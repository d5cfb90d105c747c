use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{SharedStore, StoreFuture};
use crate::BoxError;

/// Default timeout of every Redis call; then the call is a miss.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(250);
/// Default key namespace (`NAMESPACE:HASH`).
pub const DEFAULT_NAMESPACE: &str = "llm-outbound:response";

/// Responses in Redis (`SET key value PX ttl`, `GET key`), shared by every instance
/// with the same server and namespace.
///
/// **When Redis is down** (a call fails or exceeds the timeout): a lookup is a miss
/// and a store is dropped, so each instance serves from its own in-process level;
/// counted in [`errors`](Self::errors), one WARN when it goes down and one INFO when it
/// answers again. The connection reconnects by itself.
#[derive(Clone)]
pub struct RedisResponseStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    namespace: String,
    timeout: Duration,
    up: AtomicBool,
    errors: AtomicU64,
}

impl RedisResponseStore {
    /// A store on the server at `url` under `namespace`, each call bounded by
    /// `timeout`. Connects lazily: fails only on a bad URL.
    pub fn new(url: &str, namespace: &str, timeout: Duration) -> Result<Self, BoxError> {
        let client = redis::Client::open(url)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client, manager)?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                namespace: namespace.to_owned(),
                timeout,
                up: AtomicBool::new(true),
                errors: AtomicU64::new(0),
            }),
        })
    }

    /// Redis calls that failed or timed out.
    pub fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// Whether the last call succeeded (or none was made yet).
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }
}

impl Inner {
    async fn call<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Option<T> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    tracing::info!(namespace = %self.namespace, "redis answers again: the response cache is shared again");
                }
                Some(v)
            }
            Ok(Err(err)) => self.failed(&err),
            Err(_) => self.failed(&"timed out"),
        }
    }

    fn failed<T>(&self, err: &dyn fmt::Display) -> Option<T> {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(namespace = %self.namespace, error = %err,
                "redis is down: the response cache is this instance's only");
        }
        None
    }
}

impl SharedStore for RedisResponseStore {
    fn get(&self, key: String) -> StoreFuture<Option<Bytes>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let key = format!("{}:{key}", inner.namespace);
            let value: Option<Option<Vec<u8>>> = inner.call(redis::Cmd::get(key)).await;
            value.flatten().map(Bytes::from)
        })
    }

    fn put(&self, key: String, value: Bytes, ttl: Duration) {
        let inner = self.inner.clone();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        // In the background, bounded by the timeout; without a runtime, not shared.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let key = format!("{}:{key}", inner.namespace);
                let mut cmd = redis::cmd("SET");
                cmd.arg(key).arg(value.as_ref()).arg("PX").arg(ms);
                let _: Option<()> = inner.call(cmd).await;
            });
        }
    }
}

impl fmt::Debug for RedisResponseStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisResponseStore")
            .field("namespace", &self.inner.namespace)
            .field("timeout", &self.inner.timeout)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}
