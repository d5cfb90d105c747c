//! The host table: one [`Host`] per scheme + host + port for the whole process, with
//! its request slots (the per-host cap, shared by every shard) and a part of its own
//! for each shard (idle connections, HTTP/2 state), so that the per-request work of a
//! shard touches the shared part only through the slot semaphore.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};

use http::header::HeaderValue;
use http::Uri;
use tokio::sync::{Notify, Semaphore};

use super::idle::Idle;
use super::{lock, Pool};
use crate::limit::HostKey;

pub(crate) struct Host<B> {
    pub(super) key: HostKey,
    /// `scheme://authority`, what the connector is asked for.
    pub(super) dst: Uri,
    /// The `Host` header HTTP/1 requests to it get when they have none, made once.
    pub(super) host_header: Option<HeaderValue>,
    /// HTTP/1 request slots, `per_host` of them for the whole process: a request
    /// holds one from before it takes a connection until its response body ends. As
    /// each such request uses one connection, a request holding a slot never waits
    /// long for its host's connection permit.
    pub(super) slots: Arc<Semaphore>,
    /// Requests waiting for a slot, all shards.
    pub(super) waiting: AtomicUsize,
    /// One part per shard, indexed by shard.
    local: Box<[Local<B>]>,
}

/// A shard's part of a host. Aligned to its own cache lines, so that shards on other
/// threads updating theirs do not slow this one.
#[repr(align(128))]
pub(super) struct Local<B> {
    /// Set while the shard serves the host over one shared HTTP/2 connection.
    pub(super) multiplexed: AtomicBool,
    pub(super) idle: Mutex<Idle<B>>,
    /// Held while an HTTP/2 connection to the host is being made, so a burst makes one.
    pub(super) h2_connecting: tokio::sync::Mutex<()>,
    /// Requests on the HTTP/2 connection whose bodies have not ended.
    pub(super) h2_active: AtomicUsize,
    /// Reaper tick of the last request on the HTTP/2 connection.
    pub(super) h2_used: AtomicU64,
    /// Requests of the shard connecting while every global permit is taken, and the
    /// signal to them that a connection of the host came back to the shard first.
    pub(super) connecting: AtomicUsize,
    pub(super) returned: Notify,
}

/// The host of a shard's last request, found again by comparing the URI's scheme and
/// authority: most clients send to one host at a time, and this skips building the
/// key and hashing it.
pub(super) struct Last<B> {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    host: Arc<Host<B>>,
}

impl<B> Host<B> {
    /// Shard `shard`'s part (`shard` is below the pool's shard count).
    pub(super) fn local(&self, shard: usize) -> &Local<B> {
        &self.local[shard]
    }

    /// Every shard's part but `shard`'s, starting after it, with its shard.
    pub(super) fn others(&self, shard: usize) -> impl Iterator<Item = (usize, &Local<B>)> {
        let n = self.local.len();
        (1..n).map(move |i| {
            let other = (shard + i) % n;
            (other, &self.local[other])
        })
    }
}

impl<B> Pool<B> {
    /// The host of `uri` (`None` unless the URI is absolute), for a request of `shard`.
    pub(crate) fn host(&self, shard: usize, uri: &Uri) -> Option<Arc<Host<B>>> {
        let (scheme, authority) = (uri.scheme()?, uri.authority()?);
        let mut last = lock(&self.shards[shard].last);
        if let Some(last) = last.as_ref() {
            // Both comparisons ignore ASCII case, as host keys do; the byte-for-byte
            // comparison first is the fast path (the same host, spelled the same).
            let same_authority =
                last.authority.as_str() == authority.as_str() || last.authority == *authority;
            if last.scheme == *scheme && same_authority {
                return Some(last.host.clone());
            }
        }
        let host = self.lookup(scheme, authority, uri)?;
        *last = Some(Last {
            scheme: scheme.clone(),
            authority: authority.clone(),
            host: host.clone(),
        });
        Some(host)
    }

    fn lookup(
        &self,
        scheme: &http::uri::Scheme,
        authority: &http::uri::Authority,
        uri: &Uri,
    ) -> Option<Arc<Host<B>>> {
        let dst = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .ok()?;
        HostKey::with_str(uri, |key| {
            self.hosts.get_or_insert_str(key, |key| Host {
                key: key.clone(),
                host_header: host_header(&dst),
                dst,
                slots: Arc::new(Semaphore::new(self.per_host)),
                waiting: AtomicUsize::new(0),
                local: (0..self.shards.len())
                    .map(|_| Local {
                        multiplexed: AtomicBool::new(self.http2_only),
                        idle: Mutex::new(Idle::new()),
                        h2_connecting: tokio::sync::Mutex::new(()),
                        h2_active: AtomicUsize::new(0),
                        h2_used: AtomicU64::new(0),
                        connecting: AtomicUsize::new(0),
                        returned: Notify::new(),
                    })
                    .collect(),
            })
        })
    }
}

/// `host[:port]`, the port only when it is not the scheme's default.
pub(super) fn host_header(uri: &Uri) -> Option<HeaderValue> {
    let host = uri.host()?;
    let default = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    match uri.port_u16() {
        Some(port) if port != default => HeaderValue::from_str(&format!("{host}:{port}")).ok(),
        _ => HeaderValue::from_str(host).ok(),
    }
}
