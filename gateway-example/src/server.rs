//! The accept loop: hyper-util's HTTP/1 + HTTP/2 server with a header read timeout
//! (slowloris), a cap on client connections, and graceful shutdown.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use tokio::net::TcpListener;
use tower_service::Service;

use crate::app::AppState;

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, marks
/// the gateway not ready, and lets in-flight requests and streams finish for up to
/// `server.shutdown_timeout`.
pub async fn serve<S, B>(
    listener: TcpListener,
    app: S,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<http::Request<Incoming>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let server = &state.config.server;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let connections = &state.client_connections;
    tokio::pin!(shutdown);
    let _pacer =
        TimerPacer::start((server.header_read_timeout / 2).min(std::time::Duration::from_secs(1)));

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: keep serving the open ones.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many client connections; refusing one");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%peer, error = %err, "client connection ended with an error");
            }
            drop(permit);
        });
    }

    drop(listener);
    state.ready.store(false, Ordering::Relaxed);
    tracing::info!(timeout = ?server.shutdown_timeout, "shutting down: draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(server.shutdown_timeout) => tracing::warn!("drain timeout reached; closing the rest"),
    }
}

/// Keeps a timer due within `period` on the current runtime, for as long as it lives.
///
/// Tokio wakes its event loop through an eventfd write whenever a timer is registered
/// that is due before every other one, even from the loop's own thread. hyper arms a
/// header-read timer for each request on a kept-alive connection, and the request
/// timeout arms another; those were often the earliest timers: 0.3 extra `write`
/// syscalls (and loop turns) per request. With a sooner timer always pending they
/// never are; the pacer itself costs one wakeup per `period`. [`serve`] runs one with
/// a period of a second (or half the header-read timeout, if shorter).
///
/// # Panics
///
/// Outside a tokio runtime.
#[derive(Debug)]
pub struct TimerPacer(tokio::task::JoinHandle<()>);

impl TimerPacer {
    /// Starts the pacer on the current runtime; `period` is at least 1 ms.
    pub fn start(period: std::time::Duration) -> Self {
        let period = period.max(std::time::Duration::from_millis(1));
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
            }
        }))
    }
}

impl Drop for TimerPacer {
    fn drop(&mut self) {
        self.0.abort();
    }
}
