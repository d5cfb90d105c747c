//! The shared state of one connection limit: the global semaphore and the per-host map.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Semaphore;

/// The key a connection is counted under: scheme, host and port, e.g.
/// `https://api.openai.com:443`.
///
/// The port is made explicit from the scheme's default, so `https://h` and
/// `https://h:443` share one budget. Cloning is cheap.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HostKey(Arc<str>);

impl HostKey {
    /// The key for a URI, or `None` when the URI has no host.
    pub fn from_uri(uri: &http::Uri) -> Option<Self> {
        Self::with_str(uri, |key| Self(key.into()))
    }

    /// Calls `f` with the key of `uri` as text, built on the stack (no allocation for
    /// keys up to 256 bytes), or returns `None` when the URI has no host. Per-request
    /// lookups use this, and allocate a `HostKey` only for a host not seen before.
    pub(crate) fn with_str<R>(uri: &http::Uri, f: impl FnOnce(&str) -> R) -> Option<R> {
        let host = uri.host()?;
        let scheme = uri.scheme_str().unwrap_or("http");
        let port = uri.port_u16().or(match scheme {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        });
        let mut digits = [0u8; 5];
        let port = port.map(|mut port| {
            let mut start = digits.len();
            loop {
                start -= 1;
                digits[start] = b'0' + (port % 10) as u8;
                port /= 10;
                if port == 0 {
                    break;
                }
            }
            &digits[start..]
        });
        let parts: [&[u8]; 5] = [
            scheme.as_bytes(),
            b"://",
            host.as_bytes(),
            if port.is_some() { b":" } else { b"" },
            port.unwrap_or_default(),
        ];
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut stack = [0u8; 256];
        let mut heap = Vec::new();
        let buf: &mut [u8] = if len <= stack.len() {
            &mut stack[..len]
        } else {
            heap.resize(len, 0);
            &mut heap
        };
        let mut at = 0;
        for part in parts {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        buf.make_ascii_lowercase();
        // Every part is valid UTF-8 (the URI's are ASCII), and lowercasing ASCII
        // bytes keeps it so.
        std::str::from_utf8(buf).ok().map(f)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A snapshot of a connection limit's gauges and counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionMetrics {
    /// Global cap on open connections.
    pub max_connections: usize,
    /// Cap on open connections per host.
    pub max_connections_per_host: usize,
    /// Connections open or being opened (each holds its permits), all hosts.
    pub open_connections: usize,
    /// Open connections per host, hosts with none left out, sorted by key.
    pub open_per_host: Vec<(HostKey, usize)>,
    /// Connects waiting for a permit right now.
    pub waiting: usize,
    /// Connections established since start.
    pub connects: u64,
    /// Connects that failed in the inner connector since start.
    pub connect_errors: u64,
    /// Connects that gave up waiting for a permit ([`LimitTimeout`](super::LimitTimeout)).
    pub limit_timeouts: u64,
}

impl ConnectionMetrics {
    /// Adds `other` (another limit, e.g. another shard of a client) to this snapshot:
    /// caps, gauges and counters are summed, per-host counts merged by host.
    pub fn merge(&mut self, other: ConnectionMetrics) {
        self.max_connections += other.max_connections;
        self.max_connections_per_host += other.max_connections_per_host;
        self.open_connections += other.open_connections;
        self.waiting += other.waiting;
        self.connects += other.connects;
        self.connect_errors += other.connect_errors;
        self.limit_timeouts += other.limit_timeouts;
        for (key, open) in other.open_per_host {
            match self
                .open_per_host
                .binary_search_by(|(k, _)| k.as_str().cmp(key.as_str()))
            {
                Ok(i) => self.open_per_host[i].1 += open,
                Err(i) => self.open_per_host.insert(i, (key, open)),
            }
        }
    }
}

/// State shared by every clone of one [`ConnectionLimitLayer`](super::ConnectionLimitLayer)
/// and of the services it made.
pub(super) struct Shared {
    pub(super) max_total: usize,
    pub(super) max_per_host: usize,
    pub(super) global: Arc<Semaphore>,
    hosts: HostMap<Semaphore>,
    pub(super) waiting: AtomicUsize,
    /// Connects waiting for a global permit right now.
    pub(super) waiting_global: AtomicUsize,
    pub(super) connects: AtomicU64,
    pub(super) connect_errors: AtomicU64,
    pub(super) limit_timeouts: AtomicU64,
}

impl std::borrow::Borrow<str> for HostKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Per-host values, held weakly: a host's entry lives exactly as long as something
/// (a permit, a waiter, a request) holds its `Arc`. Dead entries are swept when the
/// map has doubled since the last sweep, so its size stays within
/// `max(MIN_SWEEP, 2 × live hosts)` at O(1) amortized cost.
pub(crate) struct HostMap<T> {
    inner: Mutex<HostMapInner<T>>,
}

struct HostMapInner<T> {
    map: HashMap<HostKey, Weak<T>>,
    sweep_at: usize,
}

const MIN_SWEEP: usize = 64;

impl<T> HostMap<T> {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(HostMapInner {
                map: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        }
    }

    /// The value of `key`, made by `make` if no one holds one.
    pub(crate) fn get_or_insert(&self, key: &HostKey, make: impl FnOnce() -> T) -> Arc<T> {
        self.get_or_insert_str(key.as_str(), |_| make())
    }

    /// The value of the key written `key`, made by `make` (given the key, allocated
    /// only now) if no one holds one.
    pub(crate) fn get_or_insert_str(&self, key: &str, make: impl FnOnce(&HostKey) -> T) -> Arc<T> {
        let mut hosts = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(value) = hosts.map.get(key).and_then(Weak::upgrade) {
            return value;
        }
        let key = HostKey(key.into());
        let value = Arc::new(make(&key));
        if hosts.map.len() >= hosts.sweep_at {
            hosts.map.retain(|_, weak| weak.strong_count() > 0);
            hosts.sweep_at = (hosts.map.len() * 2).max(MIN_SWEEP);
        }
        hosts.map.insert(key, Arc::downgrade(&value));
        value
    }

    /// Every host someone holds, with its value.
    pub(crate) fn live(&self) -> Vec<(HostKey, Arc<T>)> {
        let hosts = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .map
            .iter()
            .filter_map(|(key, weak)| Some((key.clone(), weak.upgrade()?)))
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
    }
}

impl Shared {
    pub(super) fn new(max_total: usize, max_per_host: usize) -> Self {
        assert!(max_total > 0, "max_connections must be at least 1");
        assert!(
            max_per_host > 0,
            "max_connections_per_host must be at least 1"
        );
        Self {
            max_total,
            max_per_host,
            global: Arc::new(Semaphore::new(max_total)),
            hosts: HostMap::new(),
            waiting: AtomicUsize::new(0),
            waiting_global: AtomicUsize::new(0),
            connects: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            limit_timeouts: AtomicU64::new(0),
        }
    }

    /// The semaphore of `key`, created on first use.
    pub(super) fn host(&self, key: &HostKey) -> Arc<Semaphore> {
        self.hosts
            .get_or_insert(key, || Semaphore::new(self.max_per_host))
    }

    pub(super) fn metrics(&self) -> ConnectionMetrics {
        // Read the global count before the hosts: a permit releases its host part
        // first, so a snapshot that sees a connection gone globally also sees it gone
        // from its host.
        let open_connections = self.max_total - self.global.available_permits();
        let mut open_per_host: Vec<(HostKey, usize)> = self
            .hosts
            .live()
            .into_iter()
            .filter_map(|(key, sem)| {
                let open = self.max_per_host - sem.available_permits();
                (open > 0).then_some((key, open))
            })
            .collect();
        open_per_host.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        ConnectionMetrics {
            max_connections: self.max_total,
            max_connections_per_host: self.max_per_host,
            open_connections,
            open_per_host,
            waiting: self.waiting.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            connect_errors: self.connect_errors.load(Ordering::Relaxed),
            limit_timeouts: self.limit_timeouts.load(Ordering::Relaxed),
        }
    }

    #[cfg(test)]
    pub(super) fn host_entries(&self) -> usize {
        self.hosts.len()
    }
}

/// Counts one waiting connect for as long as it lives.
pub(super) struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    pub(super) fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_map_forgets_hosts_nobody_holds() {
        let shared = Shared::new(10, 2);
        let mut live = Vec::new();
        for i in 0..10_000 {
            let key = HostKey(format!("http://host{i}:80").into());
            let sem = shared.host(&key);
            // Keep every hundredth host alive, as if it had an open connection.
            if i % 100 == 0 {
                live.push((key, sem));
            }
            assert!(shared.host_entries() <= MIN_SWEEP.max(2 * (live.len() + 1)) + 1);
        }
        // Live hosts keep their semaphore: asking again returns the same one.
        for (key, sem) in &live {
            assert!(Arc::ptr_eq(sem, &shared.host(key)));
        }
    }

    #[test]
    fn host_keys_make_the_default_port_explicit() {
        let key = |s: &str| HostKey::from_uri(&s.parse().expect("uri")).map(|k| k.to_string());
        assert_eq!(
            key("https://API.openai.com/v1").as_deref(),
            Some("https://api.openai.com:443")
        );
        assert_eq!(
            key("http://localhost:11434").as_deref(),
            Some("http://localhost:11434")
        );
        assert_eq!(key("http://[::1]/").as_deref(), Some("http://[::1]:80"));
        assert_eq!(key("http://h:0/").as_deref(), Some("http://h:0"));
        assert_eq!(key("http://h:65535/").as_deref(), Some("http://h:65535"));
        assert_eq!(key("custom://H/").as_deref(), Some("custom://h"));
        assert_eq!(key("/no/host"), None);
        // Longer than the stack buffer: built on the heap, same key.
        let long = format!("https://{}.example.com/", "a".repeat(300));
        assert_eq!(
            key(&long),
            Some(format!("https://{}.example.com:443", "a".repeat(300)))
        );
    }
}
