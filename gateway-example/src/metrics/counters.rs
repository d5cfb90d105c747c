//! Counter handles resolved once and bumped where things happen: a deployment's
//! upstream attempts ([`Attempts`], held by the router's view of the deployment) and
//! a callback's exports ([`ExportCounters`], held by its exporter).

use prometheus_client::metrics::counter::Counter;

use super::Metrics;

/// The attempt counters of one deployment (`gateway_deployment_requests_total`):
/// every upstream attempt counts, the router's retries and fallbacks included. Made
/// once per deployment ([`Metrics::attempts`](super::Metrics::attempts)); a default
/// one counts into nothing `/metrics` shows (for tests).
#[derive(Debug, Clone, Default)]
pub(crate) struct Attempts {
    success: Counter,
    failure: Counter,
}

impl Attempts {
    pub(super) fn new(success: Counter, failure: Counter) -> Self {
        Self { success, failure }
    }

    /// An attempt got an answer (a response head the router returned).
    pub(crate) fn succeeded(&self) {
        self.success.inc();
    }

    /// An attempt failed (an error answer, a timeout, an unreachable upstream).
    pub(crate) fn failed(&self) {
        self.failure.inc();
    }
}

/// The export counters of one callback sink, for its exporter to bump after each
/// POST: `gateway_callback_exported_events_total`,
/// `gateway_callback_export_failures_total` and
/// `gateway_callback_export_failed_events_total`, labelled `callback`. Made once per
/// sink ([`Metrics::callback_exports`](super::Metrics::callback_exports)); cheap to
/// clone (the counters are shared).
#[derive(Debug, Clone, Default)]
pub struct ExportCounters {
    exported: Counter,
    failures: Counter,
    failed_events: Counter,
}

impl ExportCounters {
    pub(super) fn new(exported: Counter, failures: Counter, failed_events: Counter) -> Self {
        Self {
            exported,
            failures,
            failed_events,
        }
    }

    /// A batch of `events` was delivered (the collector answered 2xx).
    pub fn exported(&self, events: usize) {
        self.exported.inc_by(events as u64);
    }

    /// An export of `events` failed (no answer in time, an error status, no
    /// connection): one failure, and its events lost.
    pub fn failed(&self, events: usize) {
        self.failures.inc();
        self.failed_events.inc_by(events as u64);
    }

    /// Events delivered so far.
    pub fn exported_events(&self) -> u64 {
        self.exported.get()
    }

    /// Failed exports so far.
    pub fn failures(&self) -> u64 {
        self.failures.get()
    }
}

// === the handles, made from the registry's families ===

impl Metrics {
    /// The attempt counters of deployment `deployment` of group `model`, resolved once
    /// (at startup, or when a wildcard route makes its group).
    pub(crate) fn attempts(&self, model: &str, deployment: &str) -> Attempts {
        let counter = |result: &str| {
            self.attempts
                .get_or_create(&vec![
                    ("model", model.to_string()),
                    ("deployment", deployment.to_string()),
                    ("result", result.to_string()),
                ])
                .clone()
        };
        // One statement each (see `handles_for`).
        let success = counter("success");
        let failure = counter("failure");
        Attempts::new(success, failure)
    }

    /// The export counters of callback sink `callback`, resolved once (its series show
    /// 0 from then on).
    pub fn callback_exports(&self, callback: &str) -> ExportCounters {
        let labels = vec![("callback", callback.to_string())];
        let [a, b, c] = &self.exports;
        let exported = a.get_or_create(&labels).clone();
        let failures = b.get_or_create(&labels).clone();
        let failed_events = c.get_or_create(&labels).clone();
        ExportCounters::new(exported, failures, failed_events)
    }
}
