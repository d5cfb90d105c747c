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
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let gateway = Gateway::start(config, listener).await?;
//!
//! // ... send requests to gateway.addr() ...
//! # let _ = gateway.addr();
//! gateway.shutdown().await;
//! # Ok(()) }
//! ```

pub mod app;
pub mod config;
pub mod front;
pub mod metrics;
pub mod mock;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

pub use app::AppState;

/// A gateway running on a listener, in this process: `server.workers` threads, each
/// with its own single-threaded event loop accepting from the listener and its own
/// shard of the upstream pool, so a request, its upstream connection and every
/// wake-up between them stay on one thread. Dropping it starts a graceful shutdown
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
            let listener = listener.try_clone()?;
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

    /// Starts a graceful shutdown and waits for every worker to finish it: they stop
    /// accepting, and in-flight requests and streams get up to
    /// `server.shutdown_timeout` to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for stopped in std::mem::take(&mut self.stopped) {
            // An error means the worker thread is gone already (it panicked).
            let _ = stopped.await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
