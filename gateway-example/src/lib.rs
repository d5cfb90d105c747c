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
pub mod metrics;
pub mod mock;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use app::AppState;

/// A gateway running on a listener, in this process.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Gateway {
    /// Builds the gateway from `config` and serves it on `listener`.
    pub async fn start(config: config::Config, listener: TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let state = AppState::new(config).await?;
        let app = app::router(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, app, state.clone(), async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            state,
            stop: Some(stop),
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (metrics, registry, admission controller, upstream client).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Starts a graceful shutdown and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
