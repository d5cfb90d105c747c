//! `/metrics`: one prometheus-client registry, encoded in OpenMetrics text (the
//! format its content type, [`CONTENT_TYPE`], announces). Request counts, bytes,
//! tokens and latency histograms per route and model are fed by the event layer's
//! observer as each response body ends (a few counter updates in the request's own
//! task, through handles looked up once per label set); every layer's gauges and
//! counters are read from a [`Snapshot`] at scrape time (a collector of the registry).

use std::sync::{Arc, Mutex};

use limits_layer::callbacks::{callback_fn, Event, FnCallback, Outcome};
use limits_layer::events::Observer;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

mod counters;
mod handles;
mod snapshot;

pub(crate) use self::counters::Attempts;
pub use self::counters::ExportCounters;
use self::handles::HandleMap;
use self::snapshot::SnapshotCollector;
pub use self::snapshot::{RouterNumbers, Snapshot};

/// The content type of `/metrics`: OpenMetrics text, as prometheus-client writes it.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// The request metrics and the registry that encodes them with every layer's.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    upstream: Family<Labels, Histogram>,
    first_byte: Family<Labels, Histogram>,
    overhead: Histogram,
    bytes: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
    dropped: Family<Labels, Counter>,
    attempts: Family<Labels, Counter>,
    /// Exported events, failed exports, events lost in them: by callback.
    exports: [Family<Labels, Counter>; 3],
    /// Keyed by a hash of the label set (so the map does not hash again); label sets
    /// whose hashes collide share a bucket and are told apart by their labels.
    handles: Arc<Mutex<HandleMap>>,
}

/// Records each event as the request ends, in its own task: a few counter updates,
/// with no queue that could drop an event and no hop to another thread.
impl Observer for Metrics {
    fn observe(&self, event: &Event) {
        self.record(event);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Histogram buckets of a duration: 1 ms … ~33 s, doubling.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The label value of an outcome (also the request log's `outcome`).
pub(crate) fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Completed => "completed",
        Outcome::Abandoned => "client_gone",
        Outcome::Failed => "failed",
        Outcome::Truncated => "truncated",
        Outcome::Stalled => "stalled",
        Outcome::TimedOut => "timed_out",
    }
}

impl Metrics {
    /// Request metrics only (no layer snapshot in the registry).
    pub fn new() -> Self {
        Self::build(None)
    }

    /// Request metrics, and `take`n at every scrape, the layers' numbers.
    pub fn with_snapshot(take: impl Fn() -> Snapshot + Send + Sync + 'static) -> Self {
        Self::build(Some(Box::new(SnapshotCollector {
            take: Box::new(take),
        })))
    }

    fn build(collector: Option<Box<SnapshotCollector>>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram>::new_with_constructor(seconds);
        let upstream = Family::<Labels, Histogram>::new_with_constructor(seconds);
        let first_byte = Family::<Labels, Histogram>::new_with_constructor(seconds);
        let overhead = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        let bytes = Family::<Labels, Counter>::default();
        let tokens = Family::<Labels, Counter>::default();
        let dropped = Family::<Labels, Counter>::default();
        let attempts = Family::<Labels, Counter>::default();
        let exports: [Family<Labels, Counter>; 3] = Default::default();
        registry.register(
            "gateway_dropped_params",
            "Request parameters dropped under drop_params, by provider and parameter",
            dropped.clone(),
        );
        registry.register(
            "gateway_requests",
            "Requests by route, model, deployment (provider/model that answered or failed last), status and outcome (completed, truncated, stalled, timed_out, client_gone, failed)",
            requests.clone(),
        );
        registry.register(
            "gateway_deployment_requests",
            "Upstream attempts by model group, deployment and result (success, failure), every retry and fallback included",
            attempts.clone(),
        );
        let export_help = [
            (
                "gateway_callback_exported_events",
                "Events a callback sink delivered",
            ),
            (
                "gateway_callback_export_failures",
                "Callback exports that failed (their events are lost)",
            ),
            (
                "gateway_callback_export_failed_events",
                "Events lost in failed callback exports",
            ),
        ];
        for ((name, help), family) in export_help.into_iter().zip(&exports) {
            registry.register(name, help, family.clone());
        }
        let s = Unit::Seconds;
        registry.register_with_unit(
            "gateway_request_duration",
            "Time from request to the end of the response body",
            s.clone(),
            latency.clone(),
        );
        registry.register_with_unit(
            "gateway_upstream_duration",
            "Time spent waiting for upstream response heads, over every attempt",
            s.clone(),
            upstream.clone(),
        );
        registry.register_with_unit(
            "gateway_time_to_first_byte",
            "Time from request to the first response body byte (a stream's first event)",
            s.clone(),
            first_byte.clone(),
        );
        registry.register_with_unit(
            "gateway_overhead_duration",
            "Time to the response head spent in the gateway, upstream time excluded",
            s,
            overhead.clone(),
        );
        registry.register(
            "gateway_response_bytes",
            "Response body bytes sent",
            bytes.clone(),
        );
        registry.register(
            "gateway_tokens",
            "Tokens providers reported, by model, deployment and kind (input, output, cached_input, reasoning; cached input is part of input, reasoning part of output)",
            tokens.clone(),
        );
        if let Some(collector) = collector {
            registry.register_collector(collector);
        }
        Self {
            registry: Arc::new(registry),
            requests,
            latency,
            upstream,
            first_byte,
            overhead,
            bytes,
            tokens,
            dropped,
            attempts,
            exports,
            handles: Arc::default(),
        }
    }

    /// The whole registry in OpenMetrics text (served as [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a `String` fails only if a collector does; then the text so far.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The histogram of the gateway's own time per request (the front layer feeds it).
    pub fn overhead(&self) -> Histogram {
        self.overhead.clone()
    }

    /// Counts parameters dropped from a request to `provider` under `drop_params`.
    pub fn dropped_params(&self, provider: &'static str, params: &[provider_adapters::Param]) {
        for p in params {
            self.dropped
                .get_or_create(&vec![
                    ("provider", provider.to_string()),
                    ("param", p.name().to_string()),
                ])
                .inc();
        }
    }

    /// The registry callback that records each request's event, for a stack that has
    /// only a registry; the gateway records in the request path instead (see the
    /// [`Observer`] impl).
    pub fn callback(&self) -> FnCallback<impl Fn(&Event) + Send + Sync + 'static> {
        let metrics = self.clone();
        callback_fn(move |event: &Event| metrics.record(event))
    }
}

#[cfg(test)]
mod tests {
    use super::handles::label_hash;
    use super::*;

    fn text(metrics: &Metrics) -> String {
        metrics.encode()
    }

    fn event(route: &str, model: &str, status: u16) -> Event {
        let mut event = Event::new(route);
        event.model = Some(model.into());
        event.status = Some(status);
        event
    }

    #[test]
    fn each_label_set_counts_apart_even_when_hashes_collide() {
        let metrics = Metrics::new();
        let a = event("/v1/chat/completions", "gpt-4o", 200);
        let b = event("/v1/chat/completions", "gpt-4o", 502);
        metrics.record(&a);
        // Make b's hash find a's handles, as a collision would.
        {
            let mut handles = metrics.handles.lock().unwrap_or_else(|e| e.into_inner());
            let outcome = (a.outcome as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let key_a = label_hash(&a.route, a.model.as_deref(), a.status) ^ outcome;
            let bucket = handles.remove(&key_a).unwrap_or_default();
            let key_b = label_hash(&b.route, b.model.as_deref(), b.status) ^ outcome;
            handles.insert(key_b, bucket);
        }
        metrics.record(&b);
        metrics.record(&b);
        metrics.record(&event("/v1/embeddings", "gpt-4o", 200));

        let out = text(&metrics);
        let count = |labels: &str| {
            out.lines()
                .find(|l| l.starts_with("gateway_requests_total") && l.contains(labels))
                .and_then(|l| l.rsplit(' ').next())
                .unwrap_or_else(|| panic!("no line with {labels} in\n{out}"))
                .to_string()
        };
        assert_eq!(
            count(
                r#"route="/v1/chat/completions",model="gpt-4o",deployment="",status="200",outcome="completed""#
            ),
            "1"
        );
        assert_eq!(
            count(
                r#"route="/v1/chat/completions",model="gpt-4o",deployment="",status="502",outcome="completed""#
            ),
            "2"
        );
        assert_eq!(
            count(
                r#"route="/v1/embeddings",model="gpt-4o",deployment="",status="200",outcome="completed""#
            ),
            "1"
        );
    }

    #[test]
    fn label_hashes_tell_the_parts_apart() {
        // Moving bytes between route and model, or dropping the model, changes it.
        let h = label_hash("/a", Some("b"), Some(200));
        assert_ne!(h, label_hash("/ab", Some(""), Some(200)));
        assert_ne!(h, label_hash("/a", None, Some(200)));
        assert_ne!(h, label_hash("/a", Some("b"), None));
        assert_eq!(h, label_hash("/a", Some("b"), Some(200)));
    }
}
