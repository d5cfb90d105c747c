//! The gauges and counters of every layer, as numbers taken at scrape time, and
//! their text.

use std::fmt::Write as _;

use cache_layer::CacheMetrics;
use limits_layer::admission::AdmissionMetrics;
use limits_layer::callbacks::CallbackMetrics;
use pool_layer::PoolMetrics;
use prometheus_client::encoding::text::encode_registry;

use super::Metrics;

/// The numbers of every layer at one moment: plain values, copied out of the layers
/// (see `AppState::snapshot`), so that rendering them needs nothing of the app.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The shared upstream client: connections, slots, DNS.
    pub pool: PoolMetrics,
    /// The admission controller.
    pub admission: AdmissionMetrics,
    /// The provider client cache.
    pub client_cache: CacheMetrics,
    /// The response cache, when it is on.
    pub response_cache: Option<CacheMetrics>,
    /// The callback registry.
    pub callbacks: CallbackMetrics,
}

/// The whole `/metrics` text: the request metrics, then the snapshot's.
pub(crate) fn render(metrics: &Metrics, snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let _ = encode_registry(&mut out, &metrics.registry);
    pool(&mut out, &snapshot.pool);
    slots_and_dns(&mut out, &snapshot.pool);
    admission(&mut out, &snapshot.admission);
    caches(
        &mut out,
        snapshot.client_cache.clone(),
        snapshot.response_cache.clone(),
    );
    callbacks(&mut out, &snapshot.callbacks);
    out
}

fn pool(out: &mut String, pool: &PoolMetrics) {
    let c = &pool.connections;
    one(
        out,
        "gateway_pool_open_connections",
        "Upstream connections open or opening",
        "gauge",
        c.open_connections as f64,
    );
    gauge(
        out,
        "gateway_pool_open_connections_per_host",
        "Upstream connections per host",
        "gauge",
        &c.open_per_host
            .iter()
            .map(|(h, n)| (format!("{{host=\"{}\"}}", escape(h.as_str())), *n as f64))
            .collect::<Vec<_>>(),
    );
    one(
        out,
        "gateway_pool_max_connections",
        "Global cap on upstream connections",
        "gauge",
        c.max_connections as f64,
    );
    one(
        out,
        "gateway_pool_waiting",
        "Connects waiting for a permit",
        "gauge",
        c.waiting as f64,
    );
    one(
        out,
        "gateway_pool_connects_total",
        "Upstream connections made",
        "counter",
        c.connects as f64,
    );
    one(
        out,
        "gateway_pool_connect_errors_total",
        "Upstream connects that failed",
        "counter",
        c.connect_errors as f64,
    );
    one(
        out,
        "gateway_pool_limit_timeouts_total",
        "Connects that gave up waiting for a permit",
        "counter",
        c.limit_timeouts as f64,
    );
}

fn slots_and_dns(out: &mut String, pool: &PoolMetrics) {
    one(
        out,
        "gateway_pool_slot_waiting",
        "Requests waiting for an upstream connection slot (counted in limits.max_queued)",
        "gauge",
        pool.waiting as f64,
    );
    gauge(
        out,
        "gateway_pool_slot_rejected_total",
        "Requests refused while waiting for an upstream connection slot",
        "counter",
        &[
            (
                "{reason=\"queue_full\"}".to_string(),
                pool.rejected_full as f64,
            ),
            (
                "{reason=\"queue_timeout\"}".to_string(),
                pool.rejected_timeout as f64,
            ),
        ],
    );
    one(
        out,
        "gateway_dns_hits_total",
        "DNS cache hits",
        "counter",
        pool.dns.hits as f64,
    );
    one(
        out,
        "gateway_dns_misses_total",
        "DNS lookups made",
        "counter",
        pool.dns.misses as f64,
    );
    one(
        out,
        "gateway_dns_errors_total",
        "DNS lookups failed",
        "counter",
        pool.dns.errors as f64,
    );
}

fn admission(out: &mut String, a: &AdmissionMetrics) {
    one(
        out,
        "gateway_in_flight",
        "Requests holding an admission slot",
        "gauge",
        a.in_flight as f64,
    );
    one(
        out,
        "gateway_queued",
        "Requests waiting for a slot",
        "gauge",
        a.queued as f64,
    );
    one(
        out,
        "gateway_admitted_total",
        "Requests admitted",
        "counter",
        a.admitted as f64,
    );
    gauge(
        out,
        "gateway_rejected_total",
        "Requests rejected by admission",
        "counter",
        &[
            (
                "{reason=\"queue_full\"}".to_string(),
                a.rejected_overload as f64,
            ),
            (
                "{reason=\"queue_timeout\"}".to_string(),
                a.rejected_timeout as f64,
            ),
        ],
    );
}

fn caches(out: &mut String, client: CacheMetrics, response: Option<CacheMetrics>) {
    for (name, m) in [("client", Some(client)), ("response", response)] {
        let Some(m) = m else { continue };
        one(
            out,
            &format!("gateway_{name}_cache_entries"),
            "Cache entries",
            "gauge",
            m.entries as f64,
        );
        one(
            out,
            &format!("gateway_{name}_cache_hits_total"),
            "Cache hits",
            "counter",
            m.hits as f64,
        );
        one(
            out,
            &format!("gateway_{name}_cache_misses_total"),
            "Cache misses",
            "counter",
            m.misses as f64,
        );
        gauge(
            out,
            &format!("gateway_{name}_cache_evictions_total"),
            "Cache evictions by cause",
            "counter",
            &[
                ("{cause=\"expired\"}".to_string(), m.evicted_expired as f64),
                (
                    "{cause=\"capacity\"}".to_string(),
                    m.evicted_capacity as f64,
                ),
            ],
        );
        one(
            out,
            &format!("gateway_{name}_cache_refused_oversize_total"),
            "Items over the size cap",
            "counter",
            m.refused_oversize as f64,
        );
    }
}

fn callbacks(out: &mut String, cb: &CallbackMetrics) {
    one(
        out,
        "gateway_callbacks",
        "Callbacks registered",
        "gauge",
        cb.callbacks as f64,
    );
    one(
        out,
        "gateway_callback_events_total",
        "Events queued for callbacks",
        "counter",
        cb.emitted as f64,
    );
    one(
        out,
        "gateway_callback_events_dropped_total",
        "Events dropped: queue full",
        "counter",
        cb.dropped as f64,
    );
    one(
        out,
        "gateway_callback_events_dropped_slow_total",
        "Events a slow callback missed",
        "counter",
        cb.dropped_slow as f64,
    );
    one(
        out,
        "gateway_callback_panics_total",
        "Callback panics",
        "counter",
        cb.panicked as f64,
    );
}

fn gauge(out: &mut String, name: &str, help: &str, kind: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

fn one(out: &mut String, name: &str, help: &str, kind: &str, value: f64) {
    gauge(out, name, help, kind, &[(String::new(), value)]);
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
