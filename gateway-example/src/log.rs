//! The per-request log line: one `INFO` line per request as its response ends
//! (target `gateway_example::request`), from the same event the metrics record, so it
//! costs no task, queue or clock read of its own. Fields are formatted only when that
//! level is enabled for the target, and never when `server.log_requests` is off.

use limits_layer::callbacks::Event;
use limits_layer::events::Observer;

use crate::metrics::{outcome_label, Metrics};

/// What watches each request's event in its own task: the metrics, and the request
/// log line when `log_requests` is on.
#[derive(Debug, Clone)]
pub struct Observers {
    /// The metrics fed by every event.
    pub metrics: Metrics,
    /// Whether to log each request (`server.log_requests`).
    pub log_requests: bool,
}

impl Observer for Observers {
    fn observe(&self, event: &Event) {
        self.metrics.observe(event);
        if self.log_requests {
            request_line(event);
        }
    }
}

/// Milliseconds, with microsecond precision.
fn ms(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}

/// The `INFO` line of one request. The macro checks the level before it evaluates
/// any field.
fn request_line(e: &Event) {
    let usage = e.usage.unwrap_or_default();
    tracing::info!(
        target: "gateway_example::request",
        method = %e.method,
        route = %e.route,
        model = e.model.as_deref().unwrap_or(""),
        deployment = e.upstream.as_ref().map_or("", |u| &*u.deployment),
        status = e.status.unwrap_or(0),
        outcome = outcome_label(e.outcome),
        finish_reason = %e.finish_reasons,
        input_tokens = usage.prompt_tokens,
        output_tokens = usage.completion_tokens,
        ms = ms(e.latency),
        upstream_ms = e.upstream_latency.map_or(0.0, ms),
        first_byte_ms = e.first_byte.map_or(0.0, ms),
        request_id = e.request_id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or(""),
        "request"
    );
}
