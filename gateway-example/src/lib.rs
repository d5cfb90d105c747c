//! The `gateway` binary's library: a fast OpenAI/Anthropic-compatible LLM proxy built
//! from this workspace's layers. Use it to embed the gateway, or to test it in-process.
//!
//! # Example
//!
//! ```
//! use gateway_example::{config::Config, Gateway};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let config = Config::parse(gateway_example::config::DEMO, "<demo>")?;
//! // `bind` lets each worker have a socket of its own; any `TcpListener` works too.
//! let listener = gateway_example::bind("127.0.0.1:0".parse()?)?;
//! let gateway = Gateway::start(config, listener).await?;
//!
//! // ... send requests to gateway.addr() ...
//! # let _ = gateway.addr();
//! gateway.shutdown().await;
//! # Ok(()) }
//! ```

pub mod app;
pub mod config;
pub mod conn;
pub mod front;
pub mod http;
pub mod intake;
pub mod log;
pub mod metrics;
pub mod mock;
pub mod queue;
pub mod router;
pub mod routes;
mod routing;
pub mod server;
pub mod shape;
pub mod sinks;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

pub use app::AppState;

/// A gateway running on a listener, in this process: `server.workers` threads, each
/// with its own single-threaded event loop, its own socket on the address (when the
/// listener comes from [`bind`]; otherwise they share the listener) and its own shard
/// of the upstream pool's idle connections, so a request, its upstream connection and
/// every wake-up between them stay on one thread. The pool's caps and the queue are
/// the whole process's (see [`queue`]). Dropping it starts a graceful shutdown
/// without waiting for it; [`shutdown`](Self::shutdown) waits.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    /// One per worker; each completes when its thread has drained and stopped.
    stopped: Vec<oneshot::Receiver<()>>,
}

impl Gateway {
    /// Builds the gateway from `config` and serves it on `listener`. Shared parts that
    /// are not per request (the callback dispatcher, the built-in mock provider) run
    /// on the calling runtime, which must keep running.
    pub async fn start(config: config::Config, listener: TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let workers = config.server.workers;
        let state = AppState::new(config).await?;
        let listener = listener.into_std()?;
        let (stop, stopping) = watch::channel(false);
        let mut gateway = Self {
            addr,
            state,
            stop,
            stopped: Vec::with_capacity(workers),
        };
        // On an error below, dropping `gateway` stops the workers already started.
        for worker in 0..workers {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let listener = if worker == 0 {
                listener.try_clone()?
            } else {
                worker_listener(&listener, addr)?
            };
            let state = gateway.state.clone();
            let mut stopping = stopping.clone();
            let (done, stopped) = oneshot::channel();
            std::thread::Builder::new()
                .name(format!("gateway-worker-{worker}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        let listener = match TcpListener::from_std(listener) {
                            Ok(listener) => listener,
                            Err(err) => {
                                tracing::error!(worker, error = %err, "worker cannot accept");
                                return;
                            }
                        };
                        let app = app::router(state.clone(), worker);
                        server::serve(listener, app, state, async move {
                            let _ = stopping.wait_for(|stop| *stop).await;
                        })
                        .await;
                    });
                    // The runtime (and any task still on it) is gone before we say so.
                    drop(runtime);
                    let _ = done.send(());
                })?;
            gateway.stopped.push(stopped);
        }
        Ok(gateway)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (metrics, registry, admission controller, upstream client).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Starts a graceful shutdown and waits for every worker to finish it. At once,
    /// `/health/readiness` answers `503`; for `server.shutdown_delay` the gateway keeps
    /// serving (for load balancers to notice); then the workers stop accepting, and
    /// in-flight requests and streams get up to `server.shutdown_timeout` to end.
    pub async fn shutdown(mut self) {
        self.state
            .ready
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let delay = self.state.config.server.shutdown_delay;
        if !delay.is_zero() {
            tracing::info!(?delay, "shutting down: not ready, still serving");
            tokio::time::sleep(delay).await;
        }
        let _ = self.stop.send(true);
        for stopped in std::mem::take(&mut self.stopped) {
            // An error means the worker thread is gone already (it panicked).
            let _ = stopped.await;
        }
    }
}

/// The listener of a worker after the first: its own socket on the same address when
/// the given listener allows it (`SO_REUSEPORT`, as [`bind`] sets), so the kernel
/// spreads new connections over the workers; otherwise a copy of the given one, whose
/// connections go to whichever worker accepts first (a burst of them can all land on
/// one worker).
fn worker_listener(
    listener: &std::net::TcpListener,
    addr: SocketAddr,
) -> std::io::Result<std::net::TcpListener> {
    // Joining the address fails (address in use) unless the given listener has
    // `SO_REUSEPORT` too.
    match join(addr).and_then(TcpListener::into_std) {
        Ok(own) => Ok(own),
        Err(_) => listener.try_clone(),
    }
}

/// Binds a listener for [`Gateway::start`]: with `SO_REUSEPORT` (on Unix) so that each
/// worker gets a socket of its own on the address. An address already in use is still
/// an error (a second gateway on the same port does not silently share it). Port 0
/// picks a free port. Must run inside a Tokio runtime.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    // A plain bind first: it fails if anything (with or without `SO_REUSEPORT`) has
    // the address, and it picks the port for port 0.
    let addr = std::net::TcpListener::bind(addr)?.local_addr()?;
    join(addr)
}

/// A listener with `SO_REUSEPORT` on `addr`, joining any already there.
fn join(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The socket behind a descriptor (`socket:[inode]`): copies of one socket share it.
    #[cfg(target_os = "linux")]
    fn socket_id(listener: &std::net::TcpListener) -> String {
        use std::os::fd::AsRawFd;
        let link = format!("/proc/self/fd/{}", listener.as_raw_fd());
        std::fs::read_link(link)
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn workers_get_sockets_of_their_own_when_the_listener_allows_it() {
        let shared = bind("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .and_then(TcpListener::into_std)
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = shared.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let own = worker_listener(&shared, addr).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(own.local_addr().ok(), Some(addr));
        assert_ne!(socket_id(&own), socket_id(&shared), "a socket of its own");

        // A listener bound the usual way: the worker shares it.
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = plain.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let copy = worker_listener(&plain, addr).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            socket_id(&copy),
            socket_id(&plain),
            "a copy of the same socket"
        );
    }

    #[tokio::test]
    async fn an_address_in_use_is_still_an_error() {
        let first = bind("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = first.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let second = bind(addr).map(|_| ()).unwrap_err();
        assert_eq!(second.kind(), std::io::ErrorKind::AddrInUse);
    }
}
