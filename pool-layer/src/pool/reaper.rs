//! The reaper of a shard: a task on the shard's thread that, every quarter of the idle
//! timeout, closes the shard's connections idle for longer than the idle timeout and
//! forgets hosts left with none; and that, when an idle HTTP/1 connection sees
//! something ([`IdleWatch`]), drives the shard's idle connections, closing those the
//! server closed. It runs only while the shard keeps a connection.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::Wake;
use std::time::Duration;

use tokio::sync::Notify;

use super::host::Host;
use super::idle::Idle;
use super::{lock, Pool};

/// The hosts a shard holds idle connections of (held strongly, so that their
/// connections stay pooled while no request names them), and whether its reaper runs.
pub(super) struct Kept<B> {
    pub(super) hosts: Vec<Arc<Host<B>>>,
    reaper: bool,
}

impl<B> Kept<B> {
    pub(super) fn new() -> Self {
        Self {
            hosts: Vec::new(),
            reaper: false,
        }
    }
}

impl<B: Send + 'static> Pool<B> {
    /// Adds `host` to the shard's kept hosts if `newly_kept`, and makes sure the
    /// shard's reaper runs.
    pub(super) fn keep(self: &Arc<Self>, host: &Arc<Host<B>>, shard: usize, newly_kept: bool) {
        let state = &self.shards[shard];
        if !newly_kept && state.reaper_running.load(Ordering::Relaxed) {
            return;
        }
        let mut kept = lock(&state.kept);
        if newly_kept {
            kept.hosts.push(host.clone());
        }
        if !kept.reaper {
            // Outside a runtime (a body dropped on a plain thread) there is nowhere to
            // run it; the next connection put back from within one starts it.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                kept.reaper = true;
                state.reaper_running.store(true, Ordering::Relaxed);
                runtime.spawn(reap(Arc::downgrade(self), shard, self.reap_every));
            }
        }
    }
}

/// What an idle HTTP/1 connection wakes when it sees something: its shard's reaper.
#[derive(Default)]
pub(super) struct IdleWatch {
    notify: Notify,
}

impl Wake for IdleWatch {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.notify.notify_one();
    }
}

/// Marks the reaper stopped if its task is dropped (its runtime shut down), so
/// another can start.
struct Running<B>(Option<(Weak<Pool<B>>, usize)>);

impl<B> Drop for Running<B> {
    fn drop(&mut self) {
        if let Some((pool, shard)) = self.0.take() {
            if let Some(pool) = pool.upgrade() {
                stopped(&pool, shard, &mut lock(&pool.shards[shard].kept));
            }
        }
    }
}

fn stopped<B>(pool: &Pool<B>, shard: usize, kept: &mut Kept<B>) {
    kept.reaper = false;
    pool.shards[shard]
        .reaper_running
        .store(false, Ordering::Relaxed);
}

/// Ends when the shard keeps no connection (the next one put back starts it again) or
/// the pool is gone.
async fn reap<B>(pool: Weak<Pool<B>>, shard: usize, every: Duration) {
    let mut running = Running(Some((pool.clone(), shard)));
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let Some(watch) = pool.upgrade().map(|pool| pool.shards[shard].idle.clone()) else {
        running.0 = None;
        return;
    };
    loop {
        let ticked = {
            let tick = std::pin::pin!(interval.tick());
            let seen = std::pin::pin!(watch.notify.notified());
            matches!(
                futures_util::future::select(tick, seen).await,
                futures_util::future::Either::Left(_)
            )
        };
        let Some(pool) = pool.upgrade() else {
            running.0 = None;
            return;
        };
        let state = &pool.shards[shard];
        if !ticked {
            sweep(&pool, shard);
            continue;
        }
        let tick = state.ticks.fetch_add(1, Ordering::Relaxed) + 1;
        let hosts = std::mem::take(&mut lock(&state.kept).hosts);
        let mut still = Vec::with_capacity(hosts.len());
        let mut closed = Vec::new();
        for host in hosts {
            let local = host.local(shard);
            let mut idle = lock(&local.idle);
            // Driven once, in case a close went unseen (a socket not watched).
            let mut dropped = idle.sweep(&state.idle_waker) + idle.expire(tick);
            let unused = local.h2_active.load(Ordering::Relaxed) == 0
                && Idle::<B>::h2_expired(tick, local.h2_used.load(Ordering::Relaxed));
            if idle.h2.as_ref().is_some_and(|h2| h2.is_closed() || unused) {
                idle.h2 = None;
                dropped += 1;
            }
            if dropped > 0 {
                closed.push((host.key.clone(), dropped));
            }
            if idle.is_empty() {
                idle.kept = false;
            } else {
                drop(idle);
                still.push(host);
            }
        }
        for (host, count) in closed {
            tracing::debug!(%host, count, "closed idle connections");
        }
        let mut kept = lock(&state.kept);
        kept.hosts.extend(still);
        if kept.hosts.is_empty() {
            stopped(&pool, shard, &mut kept);
            running.0 = None;
            return;
        }
    }
}

/// Drives the shard's idle HTTP/1 connections once, dropping those found closed.
fn sweep<B>(pool: &Pool<B>, shard: usize) {
    let state = &pool.shards[shard];
    let hosts = lock(&state.kept).hosts.clone();
    for host in hosts {
        let closed = lock(&host.local(shard).idle).sweep(&state.idle_waker);
        if closed > 0 {
            tracing::debug!(host = %host.key, count = closed, "closed idle connections the server closed");
        }
    }
}
