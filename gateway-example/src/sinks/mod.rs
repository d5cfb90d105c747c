//! The callbacks the config names (`otel`, `langfuse`, `webhook`), each a callback of
//! the capped registry that hands its events to one exporter task, which sends them
//! in batches, each export bounded by `callbacks.timeout_s`: `otel` and `langfuse` as
//! OTLP/HTTP protobuf spans through the official `opentelemetry-otlp` exporter,
//! `webhook` as a JSON array.
//!
//! Nothing here is in a request's path: a request only puts its event on the
//! registry's bounded queue ([`Registry::emit`] never waits). When an exporter is
//! stalled (a collector that does not answer), its batch channel fills, then its
//! callback's registry queue, and further events for it are dropped and counted in
//! `/metrics` (`gateway_callback_events_dropped_slow_total`); the other callbacks and
//! the requests go on as before.
//!
//! What leaves the gateway is the event: route, models, provider, status, outcome,
//! token counts and times. An event holds no prompt or completion text, so none is
//! ever sent.

mod export;
mod otlp;
mod webhook;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use limits_layer::callbacks::{Callback, Event, Outcome, Registry};
use tokio::sync::mpsc;

use self::export::{Exporter, PoolHttpClient, Transport};
use self::otlp::OtlpSpans;
use crate::config::{CallbacksConfig, Only, Sink, SinkKind};
use crate::metrics::Metrics;

pub use self::otlp::{operation_name, provider_name, SCOPE_NAME};

/// Most connections the exporters open at once, over every sink.
pub const MAX_EXPORT_CONNECTIONS: usize = 8;

/// Registers a callback per configured sink and starts its exporter task (on the
/// current Tokio runtime). A sink the registry refuses (full) is logged at `WARN` and
/// left out.
///
/// Each sink's export counters are resolved in `metrics` here
/// ([`Metrics::callback_exports`]), so their series read 0 from the start.
pub fn register(registry: &Registry, config: &CallbacksConfig, metrics: &Metrics) {
    if config.sinks.is_empty() {
        return;
    }
    // The exporters' own small pool: their connections never take an upstream slot
    // or a place in the requests' wait queue.
    let client: pool_layer::Client<Full<Bytes>> = pool_layer::Client::builder()
        .max_connections(MAX_EXPORT_CONNECTIONS)
        .connect_timeout(config.timeout)
        .wait_timeout(config.timeout)
        .build();
    for sink in &config.sinks {
        let Some(transport) = transport(sink, &client, config) else {
            continue;
        };
        // The batch channel holds one batch: a stalled exporter backs up into the
        // registry's bounded queue for this callback, where drops are counted.
        let (events, rx) = mpsc::channel(config.batch_size.max(1));
        let callback = SinkCallback {
            only: sink.only,
            events,
        };
        match registry.register(sink.kind.name(), callback) {
            Ok(()) => {
                let exporter = Exporter {
                    name: sink.kind.name(),
                    exports: metrics.callback_exports(sink.kind.name()),
                    url: sink.url.clone(),
                    transport,
                    batch_size: config.batch_size.max(1),
                    flush_interval: config.flush_interval,
                    timeout: config.timeout,
                };
                tokio::spawn(exporter.run(rx));
                tracing::info!(callback = sink.kind.name(), url = %sink.url, "callback registered");
            }
            Err(err) => tracing::warn!(
                callback = sink.kind.name(),
                "callback not registered: {err}"
            ),
        }
    }
}

/// How `sink`'s batches are sent, on the sinks' shared `client`; `None` (logged at
/// `WARN`) if the OTLP exporter cannot be built (as when the environment asks for an
/// `OTEL_EXPORTER_OTLP_*COMPRESSION` this build does not have).
fn transport(
    sink: &Sink,
    client: &pool_layer::Client<Full<Bytes>>,
    config: &CallbacksConfig,
) -> Option<Transport> {
    let http = PoolHttpClient::new(client.clone(), sink.headers.clone(), config.timeout);
    match sink.kind {
        SinkKind::Otel | SinkKind::Langfuse => {
            let spans = OtlpSpans::new(
                &sink.url,
                &sink.headers,
                http,
                config.timeout,
                &config.service_name,
            );
            match spans {
                Ok(spans) => Some(Transport::Otlp(spans)),
                Err(err) => {
                    tracing::warn!(
                        callback = sink.kind.name(),
                        "callback not registered: the OTLP exporter: {err}"
                    );
                    None
                }
            }
        }
        SinkKind::Webhook => Some(Transport::Json {
            client: http,
            url: sink.url.clone(),
        }),
    }
}

/// Whether `event` is a success in `success_callback`'s sense: answered below 400 and
/// delivered whole.
pub fn is_success(event: &Event) -> bool {
    matches!(event.status, Some(status) if status < 400) && event.outcome == Outcome::Completed
}

/// One sink's registry callback: filters, then passes the event to the exporter.
struct SinkCallback {
    only: Only,
    events: mpsc::Sender<Arc<Event>>,
}

impl Callback for SinkCallback {
    fn on_event(&self, event: Arc<Event>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let wanted = match self.only {
            Only::All => true,
            Only::Successes => is_success(&event),
            Only::Failures => !is_success(&event),
        };
        if !wanted {
            return Box::pin(std::future::ready(()));
        }
        let events = self.events.clone();
        // Waits while the exporter's batch channel is full (bounded by the registry's
        // call timeout); the events behind it wait in the registry's bounded queue.
        Box::pin(async move {
            // The exporter ends only with the registry: nothing to do if it is gone.
            let _ = events.send(event).await;
        })
    }
}
