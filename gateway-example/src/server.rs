//! The accept loop: hyper-util's HTTP/1 + HTTP/2 server, a cap on client connections,
//! each connection watched so that none is held without progress (see
//! [`crate::conn`]), HTTP/2 keep-alive PINGs, and graceful shutdown whose deadline ends
//! cut streams with an error event.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_service::Service;

use crate::app::state::AppState;
use crate::conn::{self, ClientIo, ConnState, PerConnection, Phase, Watched};

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, marks
/// the gateway not ready, and lets in-flight requests and streams finish for up to
/// `server.shutdown_timeout`; streams still running then end with an error event
/// ([`Phase::Cut`]) and get [`conn::CUT_GRACE`] to send it.
///
/// Every connection is closed after `server.header_read_timeout` without a request in
/// flight (from its first byte on: protocol detection included), and as soon as a
/// client takes none of a response's bytes for its stall limit (see [`crate::conn`]).
/// HTTP/2 connections are PINGed every `server.header_read_timeout`, and closed when a
/// PING is not answered within as long again.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let server = &state.config.server;
    let idle = server.header_read_timeout;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No header-read timer of hyper's: it armed (and boxed) a `Sleep` per request. The
    // connection's watchdog (`crate::conn`) already closes a connection with no
    // request in flight for `idle`, a slow or unfinished request head included.
    builder.http1().header_read_timeout(None).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(idle))
        .keep_alive_timeout(idle);
    let (phase, phases) = watch::channel(Phase::Serving);
    let connections = &state.client_connections;
    tokio::pin!(shutdown);
    let _pacer = TimerPacer::start((idle / 2).min(Duration::from_secs(1)));

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: keep serving the open ones.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
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
        let watch = ConnState::new(server.body_read_timeout);
        let service = PerConnection::new(Watched::new(
            app.clone(),
            watch.clone(),
            server.body_read_timeout,
        ));
        let conn = builder
            .serve_connection_with_upgrades(
                TokioIo::new(ClientIo::new(stream, watch.clone())),
                service,
            )
            .into_owned();
        let phases = phases.clone();
        tokio::spawn(async move {
            conn::drive(conn, watch, phases, idle).await;
            tracing::trace!(%peer, "client connection closed");
            drop(permit);
        });
    }

    drop(listener);
    drop(phases);
    state.ready.store(false, Ordering::Relaxed);
    tracing::info!(timeout = ?server.shutdown_timeout, "shutting down: draining in-flight requests");
    let _ = phase.send(Phase::Draining);
    tokio::select! {
        () = phase.closed() => {
            tracing::info!("all connections closed");
            return;
        }
        () = tokio::time::sleep(server.shutdown_timeout) => {}
    }
    tracing::warn!("drain timeout reached; cutting the streams still running");
    let _ = phase.send(Phase::Cut);
    tokio::select! {
        () = phase.closed() => {}
        () = tokio::time::sleep(conn::CUT_GRACE * 2) => tracing::warn!("closing the connections left"),
    }
}

/// Keeps a timer due within `period` on the current runtime, for as long as it lives.
///
/// Tokio wakes its event loop through an eventfd write whenever a timer is registered
/// that is due before every other one, even from the loop's own thread. The request
/// timeout arms a timer per request (as hyper's header-read timer did, before the
/// connection watchdog replaced it); those were often the earliest timers: 0.3 extra
/// `write` syscalls (and loop turns) per request. With a sooner timer always pending they
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
