//! Events as the webhook's JSON: one array per batch, one object per request.
//!
//! ```json
//! [{"request_id": "…", "method": "POST", "route": "/v1/chat/completions",
//!   "model": "gpt", "provider": "openai", "response_model": "gpt-4o-mini",
//!   "deployment": "openai/gpt-4o-mini",
//!   "status": 200, "outcome": "completed", "success": true, "finish_reasons": ["stop"],
//!   "end_time_ms": 1767312000000, "latency_ms": 12.5, "upstream_latency_ms": 11.9,
//!   "time_to_first_token_ms": null, "response_bytes": 312,
//!   "usage": {"prompt_tokens": 3, "completion_tokens": 1, "cached_tokens": 0,
//!             "reasoning_tokens": 0}}]
//! ```

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use limits_layer::callbacks::Event;
use serde::Serialize;

use crate::metrics::outcome_label;

/// One request, as the webhook receives it.
#[derive(Serialize)]
struct Record<'a> {
    request_id: Option<&'a str>,
    method: &'a str,
    route: &'a str,
    model: Option<&'a str>,
    provider: Option<&'static str>,
    response_model: Option<&'a str>,
    deployment: Option<&'a str>,
    status: Option<u16>,
    outcome: &'static str,
    success: bool,
    /// One per choice, as the client got them (empty when the answer said none).
    finish_reasons: Vec<&'a str>,
    end_time_ms: u64,
    latency_ms: f64,
    upstream_latency_ms: Option<f64>,
    time_to_first_token_ms: Option<f64>,
    response_bytes: u64,
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    reasoning_tokens: u64,
}

fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}

fn record(e: &Event) -> Record<'_> {
    Record {
        request_id: e.request_id.as_ref().and_then(|v| v.to_str().ok()),
        method: e.method.as_str(),
        route: &e.route,
        model: e.model.as_deref(),
        provider: e.upstream.as_ref().map(|u| u.provider),
        response_model: e.upstream.as_ref().map(|u| &*u.model),
        deployment: e.upstream.as_ref().map(|u| &*u.deployment),
        status: e.status,
        outcome: outcome_label(e.outcome),
        success: super::is_success(e),
        finish_reasons: e.finish_reasons.iter().map(|r| r.as_str()).collect(),
        end_time_ms: u64::try_from(
            e.ended_at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(u64::MAX),
        latency_ms: ms(e.latency),
        upstream_latency_ms: e.upstream_latency.map(ms),
        time_to_first_token_ms: e.first_byte.map(ms),
        response_bytes: e.response_bytes,
        usage: e.usage.map(|u| Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cached_tokens: u.cached_tokens,
            reasoning_tokens: u.reasoning_tokens,
        }),
    }
}

/// The batch as a JSON array.
pub(super) fn encode(batch: &[Arc<Event>]) -> Vec<u8> {
    let records: Vec<Record<'_>> = batch.iter().map(|e| record(e)).collect();
    // Serializing these types cannot fail (no maps with non-string keys, no I/O).
    serde_json::to_vec(&records).unwrap_or_default()
}
