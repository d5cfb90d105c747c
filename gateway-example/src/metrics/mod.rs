//! `/metrics`: request counts and latency histograms per route, model and status (fed
//! by the event layer's observer as each response body ends: a few counter updates in
//! the request's own task), plus a snapshot of every layer's gauges at scrape time, in
//! Prometheus text format.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use limits_layer::callbacks::{callback_fn, Event, FnCallback};
use limits_layer::events::Observer;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

mod snapshot;

pub(crate) use self::snapshot::render;
pub use self::snapshot::Snapshot;

type Labels = Vec<(&'static str, String)>;

/// A hasher for keys that are hashes already: passes the `u64` through.
#[derive(Default)]
struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; fold anything else in all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The request metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    bytes: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
    dropped: Family<Labels, Counter>,
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

/// Label-set hash -> the handles of the label sets with that hash.
type HandleMap = HashMap<u64, Vec<Handles>, BuildHasherDefault<PrehashedKey>>;

/// The metrics of one (route, model, status).
#[derive(Debug)]
struct Handles {
    route: String,
    model: Option<Arc<str>>,
    status: Option<u16>,
    requests: Counter,
    latency: Histogram,
    bytes: Counter,
    prompt_tokens: Counter,
    completion_tokens: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram>::new_with_constructor(|| {
            // 5 ms … ~82 s.
            Histogram::new(exponential_buckets(0.005, 2.0, 15))
        });
        let bytes = Family::<Labels, Counter>::default();
        let tokens = Family::<Labels, Counter>::default();
        let dropped = Family::<Labels, Counter>::default();
        registry.register(
            "gateway_dropped_params",
            "Request parameters dropped under drop_params, by provider and parameter",
            dropped.clone(),
        );
        registry.register(
            "gateway_requests",
            "Requests by route, model and status",
            requests.clone(),
        );
        registry.register(
            "gateway_request_duration_seconds",
            "Time from request to the end of the response body",
            latency.clone(),
        );
        registry.register(
            "gateway_response_bytes",
            "Response body bytes sent",
            bytes.clone(),
        );
        registry.register(
            "gateway_tokens",
            "Tokens reported by providers",
            tokens.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            latency,
            bytes,
            tokens,
            dropped,
            handles: Arc::default(),
        }
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

    fn record(&self, event: &Event) {
        // The label sets are few (routes x configured models x statuses), so each
        // one's metric handles are looked up once, then found by a hash without
        // building label vectors per event.
        let key = label_hash(&event.route, event.model.as_deref(), event.status);
        let mut handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = handles.entry(key).or_default();
        let at = bucket.iter().position(|h| {
            h.status == event.status && h.model == event.model && h.route == *event.route
        });
        let at = at.unwrap_or_else(|| {
            let model = event.model.as_deref().unwrap_or("").to_string();
            let status = event
                .status
                .map_or_else(|| "error".to_string(), |s| s.to_string());
            let route = event.route.to_string();
            // One statement each: `get_or_create` returns a read guard on its family,
            // and a second `get_or_create` on the same family while it is alive would
            // wait for a write lock forever.
            let requests = self
                .requests
                .get_or_create(&vec![
                    ("route", route.clone()),
                    ("model", model.clone()),
                    ("status", status),
                ])
                .clone();
            let latency = self
                .latency
                .get_or_create(&vec![("route", route), ("model", model.clone())])
                .clone();
            let bytes = self
                .bytes
                .get_or_create(&vec![("model", model.clone())])
                .clone();
            let prompt_tokens = self
                .tokens
                .get_or_create(&vec![("model", model.clone()), ("kind", "prompt".into())])
                .clone();
            let completion_tokens = self
                .tokens
                .get_or_create(&vec![("model", model), ("kind", "completion".into())])
                .clone();
            bucket.push(Handles {
                route: event.route.to_string(),
                model: event.model.clone(),
                status: event.status,
                requests,
                latency,
                bytes,
                prompt_tokens,
                completion_tokens,
            });
            bucket.len() - 1
        });
        let found = &bucket[at];
        found.requests.inc();
        found.latency.observe(event.latency.as_secs_f64());
        found.bytes.inc_by(event.response_bytes);
        if let Some(usage) = event.usage {
            found.prompt_tokens.inc_by(usage.prompt_tokens);
            found.completion_tokens.inc_by(usage.completion_tokens);
        }
    }
}

/// FNV-1a over the labels: a few dozen bytes per event, where SipHash cost several
/// hundred instructions. Collisions are told apart by the labels themselves.
fn label_hash(route: &str, model: Option<&str>, status: Option<u16>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(route.as_bytes());
    eat(&[0xff]);
    if let Some(model) = model {
        eat(&[1]);
        eat(model.as_bytes());
    }
    eat(&[0xff]);
    if let Some(status) = status {
        eat(&status.to_le_bytes());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode_registry;

    fn text(metrics: &Metrics) -> String {
        let mut out = String::new();
        encode_registry(&mut out, &metrics.registry).unwrap_or_default();
        out
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
            let key_a = label_hash(&a.route, a.model.as_deref(), a.status);
            let bucket = handles.remove(&key_a).unwrap_or_default();
            handles.insert(label_hash(&b.route, b.model.as_deref(), b.status), bucket);
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
            count(r#"route="/v1/chat/completions",model="gpt-4o",status="200""#),
            "1"
        );
        assert_eq!(
            count(r#"route="/v1/chat/completions",model="gpt-4o",status="502""#),
            "2"
        );
        assert_eq!(
            count(r#"route="/v1/embeddings",model="gpt-4o",status="200""#),
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
