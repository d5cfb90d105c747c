//! One Redis connection with the health rules every Redis-backed store here follows:
//! each call bounded by a timeout, a WARN when Redis goes down and an INFO when it
//! answers again, and while it is down one probe per interval (the other calls go
//! straight to their local fallback instead of each waiting for a timeout).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, ScriptInvocation};
use tokio::time::Instant;

use crate::BoxError;

/// A connection and its health.
pub(crate) struct Link {
    conn: ConnectionManager,
    /// Namespace prefix of the keys, also named in the log lines.
    pub(crate) prefix: String,
    timeout: Duration,
    probe_interval: Duration,
    /// What falls back when Redis is down, for the WARN (`rate limits`, `cooldowns`).
    what: &'static str,
    up: AtomicBool,
    last_failure: Mutex<Option<Instant>>,
    pub(crate) fallbacks: AtomicU64,
    pub(crate) errors: AtomicU64,
}

impl Link {
    /// Connects lazily to `url`: fails only on a bad URL, never because Redis is down.
    pub(crate) fn new(
        url: &str,
        prefix: String,
        timeout: Duration,
        probe_interval: Duration,
        what: &'static str,
    ) -> Result<Self, BoxError> {
        let client = redis::Client::open(url)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(probe_interval);
        let conn = ConnectionManager::new_lazy_with_config(client, manager)?;
        Ok(Self {
            conn,
            prefix,
            timeout,
            probe_interval,
            what,
            up: AtomicBool::new(true),
            last_failure: Mutex::new(None),
            fallbacks: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }

    /// `PREFIX:KEY`.
    pub(crate) fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }

    /// Whether the last call succeeded (or none was made yet).
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Runs a script, bounded by the timeout; `None` when Redis failed, timed out or is
    /// resting (then the caller decides locally and counts a fallback).
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        call: &ScriptInvocation<'_>,
        probe: bool,
    ) -> Option<T> {
        let mut conn = self.conn.clone();
        self.run(call.invoke_async::<T>(&mut conn), probe).await
    }

    /// Runs a pipeline, as [`invoke`](Self::invoke) runs a script.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        probe: bool,
    ) -> Option<T> {
        let mut conn = self.conn.clone();
        self.run(pipe.query_async::<T>(&mut conn), probe).await
    }

    async fn run<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
        probe: bool,
    ) -> Option<T> {
        if probe && self.resting() {
            return None;
        }
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(answer)) => {
                self.succeeded();
                Some(answer)
            }
            Ok(Err(err)) => {
                self.failed(&err);
                None
            }
            Err(_) => {
                self.failed(&"timed out");
                None
            }
        }
    }

    /// Whether to skip Redis: it failed less than `probe_interval` ago. When the interval
    /// is over, the first caller probes and restarts the interval, so concurrent callers
    /// keep using the fallback instead of all waiting on a Redis that may still be down.
    fn resting(&self) -> bool {
        let mut last = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(at) if at.elapsed() < self.probe_interval => true,
            Some(_) => {
                *last = Some(Instant::now());
                false
            }
            None => false,
        }
    }

    fn succeeded(&self) {
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!(prefix = %self.prefix, "redis answers again: {} are shared again", self.what);
        }
    }

    fn failed(&self, err: &dyn fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(prefix = %self.prefix, error = %err,
                "redis is down: {} fall back to this instance's memory", self.what);
        }
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}
