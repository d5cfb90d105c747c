//! The gauges and counters of every layer, as numbers taken at scrape time and
//! encoded by prometheus-client (a [`Collector`] of the one registry).

use std::fmt;

use cache_layer::CacheMetrics;
use limits_layer::admission::AdmissionMetrics;
use limits_layer::callbacks::CallbackMetrics;
use pool_layer::PoolMetrics;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// The numbers of every layer at one moment: plain values, copied out of the layers
/// (see `AppState::snapshot`), so that encoding them needs nothing of the app.
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
    /// The router's decisions and its Redis health.
    pub router: RouterNumbers,
}

/// The router's counters (see `crate::router`), as plain numbers.
#[derive(Debug, Clone, Default)]
pub struct RouterNumbers {
    /// Requests sent on to a fallback group.
    pub fallbacks: u64,
    /// Cooldowns started.
    pub cooldowns: u64,
    /// Deployments skipped at their rpm/tpm.
    pub rate_limited: u64,
    /// Requests answered at once: every deployment cooling or at its limit.
    pub unavailable: u64,
    /// Whether Redis answered the last calls (`None`: no Redis configured).
    pub redis_up: Option<bool>,
    /// Decisions made from this instance's memory because Redis was down.
    pub redis_fallbacks: u64,
}

/// Takes a [`Snapshot`] at each scrape.
pub(super) struct SnapshotCollector {
    pub(super) take: Box<dyn Fn() -> Snapshot + Send + Sync>,
}

impl fmt::Debug for SnapshotCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotCollector").finish_non_exhaustive()
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let s = (self.take)();
        let out = &mut encoder;
        pool(out, &s.pool)?;
        slots_and_dns(out, &s.pool)?;
        admission(out, &s.admission)?;
        cache(out, "client", &s.client_cache)?;
        if let Some(response) = &s.response_cache {
            cache(out, "response", response)?;
        }
        callbacks(out, &s.callbacks)?;
        router(out, &s.router)
    }
}

fn router(out: &mut DescriptorEncoder<'_>, r: &RouterNumbers) -> fmt::Result {
    use Kind::{Counter, Gauge};
    let counters = [
        (
            "gateway_router_fallbacks",
            "Requests sent on to a fallback model group",
            r.fallbacks,
        ),
        (
            "gateway_router_cooldowns",
            "Deployment cooldowns started",
            r.cooldowns,
        ),
        (
            "gateway_router_rate_limited",
            "Deployments skipped at their rpm/tpm",
            r.rate_limited,
        ),
        (
            "gateway_router_unavailable",
            "Requests answered at once: every deployment cooling or at its limit",
            r.unavailable,
        ),
    ];
    for (name, help, value) in counters {
        one(out, name, help, Counter, value)?;
    }
    if let Some(up) = r.redis_up {
        one(
            out,
            "gateway_redis_up",
            "Whether Redis answered the last calls (1) or the gateway runs on local state (0)",
            Gauge,
            u64::from(up),
        )?;
        one(
            out,
            "gateway_redis_fallbacks",
            "Decisions made from this instance's memory because Redis was down",
            Counter,
            r.redis_fallbacks,
        )?;
    }
    Ok(())
}

/// Whether a sample is a gauge or a counter (whose name gets `_total`).
#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

/// One family, unlabelled.
fn one(out: &mut DescriptorEncoder<'_>, name: &str, help: &str, kind: Kind, v: u64) -> fmt::Result {
    labelled(out, name, help, kind, "", &[("", v)])
}

/// One family with one label (`label` empty: no label).
fn labelled<V: AsRef<str>>(
    out: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: Kind,
    label: &str,
    samples: &[(V, u64)],
) -> fmt::Result {
    let ty = match kind {
        Kind::Gauge => MetricType::Gauge,
        Kind::Counter => MetricType::Counter,
    };
    let mut family = out.encode_descriptor(name, help, None, ty)?;
    let encode = |encoder: MetricEncoder<'_>, n: u64| match kind {
        // A gauge's value as i64, saturating (no count here comes near).
        Kind::Gauge => ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX)).encode(encoder),
        Kind::Counter => ConstCounter::new(n).encode(encoder),
    };
    if label.is_empty() {
        let n = samples.first().map_or(0, |(_, n)| *n);
        return encode(family, n);
    }
    for (value, n) in samples {
        encode(family.encode_family(&[(label, value.as_ref())])?, *n)?;
    }
    Ok(())
}

fn pool(out: &mut DescriptorEncoder<'_>, pool: &PoolMetrics) -> fmt::Result {
    use Kind::{Counter, Gauge};
    let c = &pool.connections;
    let n = |v: usize| v as u64;
    one(
        out,
        "gateway_pool_open_connections",
        "Upstream connections open or opening",
        Gauge,
        n(c.open_connections),
    )?;
    let per_host: Vec<(String, u64)> = c
        .open_per_host
        .iter()
        .map(|(h, v)| (h.as_str().to_owned(), n(*v)))
        .collect();
    labelled(
        out,
        "gateway_pool_open_connections_per_host",
        "Upstream connections per host",
        Gauge,
        "host",
        &per_host,
    )?;
    one(
        out,
        "gateway_pool_max_connections",
        "Global cap on upstream connections",
        Gauge,
        n(c.max_connections),
    )?;
    one(
        out,
        "gateway_pool_waiting",
        "Connects waiting for a permit",
        Gauge,
        n(c.waiting),
    )?;
    one(
        out,
        "gateway_pool_connects",
        "Upstream connections made",
        Counter,
        c.connects,
    )?;
    one(
        out,
        "gateway_pool_connect_errors",
        "Upstream connects that failed",
        Counter,
        c.connect_errors,
    )?;
    one(
        out,
        "gateway_pool_limit_timeouts",
        "Connects that gave up waiting for a permit",
        Counter,
        c.limit_timeouts,
    )
}

fn slots_and_dns(out: &mut DescriptorEncoder<'_>, pool: &PoolMetrics) -> fmt::Result {
    use Kind::{Counter, Gauge};
    one(
        out,
        "gateway_pool_slot_waiting",
        "Requests waiting for an upstream connection slot (counted in limits.max_queued)",
        Gauge,
        pool.waiting as u64,
    )?;
    labelled(
        out,
        "gateway_pool_slot_rejected",
        "Requests refused while waiting for an upstream connection slot",
        Counter,
        "reason",
        &[
            ("queue_full", pool.rejected_full),
            ("queue_timeout", pool.rejected_timeout),
        ],
    )?;
    one(
        out,
        "gateway_dns_hits",
        "DNS cache hits",
        Counter,
        pool.dns.hits,
    )?;
    one(
        out,
        "gateway_dns_misses",
        "DNS lookups made",
        Counter,
        pool.dns.misses,
    )?;
    one(
        out,
        "gateway_dns_errors",
        "DNS lookups failed",
        Counter,
        pool.dns.errors,
    )
}

fn admission(out: &mut DescriptorEncoder<'_>, a: &AdmissionMetrics) -> fmt::Result {
    use Kind::{Counter, Gauge};
    one(
        out,
        "gateway_in_flight",
        "Requests holding an admission slot",
        Gauge,
        a.in_flight as u64,
    )?;
    one(
        out,
        "gateway_queued",
        "Requests waiting for a slot",
        Gauge,
        a.queued as u64,
    )?;
    one(
        out,
        "gateway_admitted",
        "Requests admitted",
        Counter,
        a.admitted,
    )?;
    labelled(
        out,
        "gateway_rejected",
        "Requests rejected by admission",
        Counter,
        "reason",
        &[
            ("queue_full", a.rejected_overload),
            ("queue_timeout", a.rejected_timeout),
        ],
    )
}

fn cache(out: &mut DescriptorEncoder<'_>, name: &str, m: &CacheMetrics) -> fmt::Result {
    use Kind::{Counter, Gauge};
    let metric = |what: &str| format!("gateway_{name}_cache_{what}");
    one(
        out,
        &metric("entries"),
        "Cache entries",
        Gauge,
        m.entries as u64,
    )?;
    one(out, &metric("hits"), "Cache hits", Counter, m.hits)?;
    one(out, &metric("misses"), "Cache misses", Counter, m.misses)?;
    labelled(
        out,
        &metric("evictions"),
        "Cache evictions by cause",
        Counter,
        "cause",
        &[
            ("expired", m.evicted_expired),
            ("capacity", m.evicted_capacity),
        ],
    )?;
    one(
        out,
        &metric("refused_oversize"),
        "Items over the size cap",
        Counter,
        m.refused_oversize,
    )
}

fn callbacks(out: &mut DescriptorEncoder<'_>, cb: &CallbackMetrics) -> fmt::Result {
    use Kind::{Counter, Gauge};
    one(
        out,
        "gateway_callbacks",
        "Callbacks registered",
        Gauge,
        cb.callbacks as u64,
    )?;
    one(
        out,
        "gateway_callback_events",
        "Events queued for callbacks",
        Counter,
        cb.emitted,
    )?;
    one(
        out,
        "gateway_callback_events_dropped",
        "Events dropped: queue full",
        Counter,
        cb.dropped,
    )?;
    one(
        out,
        "gateway_callback_events_dropped_slow",
        "Events a slow callback missed",
        Counter,
        cb.dropped_slow,
    )?;
    one(
        out,
        "gateway_callback_panics",
        "Callback panics",
        Counter,
        cb.panicked,
    )?;
    one(
        out,
        "gateway_callback_timeouts",
        "Callback calls cut off at their time limit",
        Counter,
        cb.timed_out,
    )
}
