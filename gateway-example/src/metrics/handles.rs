//! The handles of each label set's metrics, looked up once per label set and found
//! again by a hash of its labels, and the recording of one event through them.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use limits_layer::callbacks::{Event, Outcome};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use super::{outcome_label, Metrics};

/// A hasher for keys that are hashes already: passes the `u64` through.
#[derive(Default)]
pub(super) struct PrehashedKey(u64);

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

/// Label-set hash -> the handles of the label sets with that hash.
pub(super) type HandleMap = HashMap<u64, Vec<Handles>, BuildHasherDefault<PrehashedKey>>;

/// The metrics of one (route, model, deployment, status, outcome).
#[derive(Debug)]
pub(super) struct Handles {
    route: String,
    model: Option<Arc<str>>,
    deployment: Option<Arc<str>>,
    status: Option<u16>,
    outcome: Outcome,
    requests: Counter,
    latency: Histogram,
    upstream: Histogram,
    first_byte: Histogram,
    bytes: Counter,
    /// Input, output, cached input and reasoning tokens.
    tokens: [Counter; 4],
}

/// The `kind` label values of `gateway_tokens_total`, in [`Handles::tokens`] order.
const TOKEN_KINDS: [&str; 4] = ["input", "output", "cached_input", "reasoning"];

impl Metrics {
    /// Counts `event` in the handles of its label set.
    pub(super) fn record(&self, event: &Event) {
        // The label sets are few (routes x configured models x statuses), so each
        // one's metric handles are looked up once, then found by a hash without
        // building label vectors per event.
        let deployment = event.upstream.as_ref().map(|u| &u.deployment);
        let key = label_hash(&event.route, event.model.as_deref(), event.status)
            ^ deployment.map_or(0, |d| label_hash(d, None, None).rotate_left(17))
            ^ (event.outcome as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut handles = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = handles.entry(key).or_default();
        let at = bucket.iter().position(|h| {
            h.status == event.status
                && h.outcome == event.outcome
                && h.model == event.model
                && h.deployment.as_ref() == deployment
                && h.route == *event.route
        });
        let at = at.unwrap_or_else(|| {
            bucket.push(self.handles_for(event));
            bucket.len() - 1
        });
        let found = &bucket[at];
        found.requests.inc();
        found.latency.observe(event.latency.as_secs_f64());
        if let Some(upstream) = event.upstream_latency {
            found.upstream.observe(upstream.as_secs_f64());
        }
        if let Some(first) = event.first_byte {
            found.first_byte.observe(first.as_secs_f64());
        }
        found.bytes.inc_by(event.response_bytes);
        if let Some(u) = event.usage {
            let counts = [
                u.prompt_tokens,
                u.completion_tokens,
                u.cached_tokens,
                u.reasoning_tokens,
            ];
            for (counter, n) in found.tokens.iter().zip(counts) {
                counter.inc_by(n);
            }
        }
    }

    /// The handles of `event`'s label set, made once per label set.
    fn handles_for(&self, event: &Event) -> Handles {
        let model = event.model.as_deref().unwrap_or("").to_string();
        let status = event
            .status
            .map_or_else(|| "error".to_string(), |s| s.to_string());
        let route = event.route.to_string();
        let deployment = event.upstream.as_ref().map(|u| u.deployment.clone());
        let named = deployment.as_deref().unwrap_or("").to_string();
        let by_route = || vec![("route", route.clone()), ("model", model.clone())];
        // One statement each: `get_or_create` returns a read guard on its family,
        // and a second `get_or_create` on the same family while it is alive would
        // wait for a write lock forever.
        let requests = self
            .requests
            .get_or_create(&vec![
                ("route", route.clone()),
                ("model", model.clone()),
                ("deployment", named.clone()),
                ("status", status),
                ("outcome", outcome_label(event.outcome).to_string()),
            ])
            .clone();
        let latency = self.latency.get_or_create(&by_route()).clone();
        let upstream = self.upstream.get_or_create(&by_route()).clone();
        let first_byte = self.first_byte.get_or_create(&by_route()).clone();
        let bytes = self
            .bytes
            .get_or_create(&vec![("model", model.clone())])
            .clone();
        let tokens = TOKEN_KINDS.map(|kind| {
            self.tokens
                .get_or_create(&vec![
                    ("model", model.clone()),
                    ("deployment", named.clone()),
                    ("kind", kind.into()),
                ])
                .clone()
        });
        Handles {
            route,
            model: event.model.clone(),
            deployment,
            status: event.status,
            outcome: event.outcome,
            requests,
            latency,
            upstream,
            first_byte,
            bytes,
            tokens,
        }
    }
}

/// FNV-1a over the labels: a few dozen bytes per event, where SipHash cost several
/// hundred instructions. Collisions are told apart by the labels themselves.
pub(super) fn label_hash(route: &str, model: Option<&str>, status: Option<u16>) -> u64 {
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
