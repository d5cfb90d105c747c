//! One shard's idle connections to one host: the HTTP/1 list (most recently used
//! last) and the shared HTTP/2 connection, under one lock.

use std::task::Waker;

use hyper::client::conn::http2;

use super::h1::H1;

/// An idle connection is closed after between 4 and 5 ticks of the reaper, which ticks
/// every quarter of the idle timeout: so after between 1 and 1.25 idle timeouts.
pub(super) const TICKS_PER_IDLE_TIMEOUT: u32 = 4;
const EXPIRED_AFTER_TICKS: u64 = TICKS_PER_IDLE_TIMEOUT as u64 + 1;

pub(super) struct Idle<B> {
    /// Idle HTTP/1 connections with the reaper tick they went idle at, most recently
    /// used last. At most the per-host cap (every open one holds a per-host permit).
    h1: Vec<(H1<B>, u64)>,
    /// The shard's HTTP/2 connection to the host, busy or not.
    pub(super) h2: Option<http2::SendRequest<B>>,
    /// In the shard's kept hosts (see `reaper`).
    pub(super) kept: bool,
}

impl<B> Idle<B> {
    pub(super) fn new() -> Self {
        Self {
            h1: Vec::new(),
            h2: None,
            kept: false,
        }
    }

    /// The most recently used idle HTTP/1 connection that is still open.
    pub(super) fn take(&mut self) -> Option<H1<B>> {
        while let Some((conn, _)) = self.h1.pop() {
            if !conn.is_closed() {
                conn.unpark();
                return Some(conn);
            }
        }
        None
    }

    /// Adds a connection that went idle at `tick`, keeping at most `cap`; returns
    /// true if the host was not kept before (the caller must add it to the kept hosts).
    pub(super) fn put(&mut self, conn: H1<B>, tick: u64, cap: usize) -> bool {
        if self.h1.len() >= cap {
            // Only closed connections can be over the cap (each open one holds a
            // per-host permit); drop them, and the oldest if that was not enough.
            self.h1.retain(|(conn, _)| !conn.is_closed());
            if self.h1.len() >= cap {
                self.h1.remove(0);
            }
        }
        self.h1.push((conn, tick));
        !std::mem::replace(&mut self.kept, true)
    }

    /// The tick the longest idle HTTP/1 connection went idle at.
    pub(super) fn oldest(&self) -> Option<u64> {
        self.h1.first().map(|(_, at)| *at)
    }

    /// Removes the longest idle HTTP/1 connection; the caller drops it, which closes it.
    pub(super) fn pop_oldest(&mut self) -> Option<H1<B>> {
        (!self.h1.is_empty()).then(|| self.h1.remove(0).0)
    }

    /// Drops the HTTP/1 connections closed or idle since before `tick` minus the idle
    /// timeout; returns how many.
    pub(super) fn expire(&mut self, tick: u64) -> usize {
        let before = self.h1.len();
        self.h1.retain(|(conn, at)| {
            !conn.is_closed() && tick.saturating_sub(*at) < EXPIRED_AFTER_TICKS
        });
        before - self.h1.len()
    }

    /// Drives each idle HTTP/1 connection once (see [`H1::poll_idle`]) and drops those
    /// found closed; returns how many.
    pub(super) fn sweep(&mut self, idle: &Waker) -> usize {
        let before = self.h1.len();
        self.h1.retain_mut(|(conn, _)| {
            conn.poll_idle(idle);
            !conn.is_closed()
        });
        before - self.h1.len()
    }

    /// True if an HTTP/2 connection last used at tick `used` (and with no request
    /// open, which the caller checks) has been idle for the idle timeout by `tick`.
    pub(super) fn h2_expired(tick: u64, used: u64) -> bool {
        tick.saturating_sub(used) >= EXPIRED_AFTER_TICKS
    }

    /// True if nothing is kept: no HTTP/1 connection and no HTTP/2 one.
    pub(super) fn is_empty(&self) -> bool {
        self.h1.is_empty() && self.h2.is_none()
    }
}
