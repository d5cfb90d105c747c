//! Events as OTLP spans, one per request, with the OpenTelemetry GenAI semantic
//! conventions' attributes, encoded as an `ExportTraceServiceRequest` (protobuf, the
//! messages of `opentelemetry-proto`) for OTLP/HTTP.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use limits_layer::callbacks::Event;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;

use crate::metrics::outcome_label;

/// The instrumentation scope's name on every span.
pub const SCOPE_NAME: &str = "gateway-example";

/// The GenAI conventions' `gen_ai.operation.name` for a route: `chat`, `embeddings`,
/// `text_completion`, or `None` for a route that is no model call.
pub fn operation_name(route: &str) -> Option<&'static str> {
    let route = route.strip_prefix("/v1").unwrap_or(route);
    match route {
        "/chat/completions" | "/messages" | "/responses" => Some("chat"),
        "/embeddings" => Some("embeddings"),
        "/completions" => Some("text_completion"),
        _ => None,
    }
}

/// The GenAI conventions' provider name (`gen_ai.provider.name`, `gen_ai.system`)
/// for a provider as the config names it.
pub fn provider_name(provider: &str) -> &str {
    match provider {
        "azure" => "azure.ai.openai",
        "bedrock" => "aws.bedrock",
        "vertex_ai" => "gcp.vertex_ai",
        "gemini" => "gcp.gemini",
        "mistral" => "mistral_ai",
        "xai" => "x_ai",
        "groq" => "groq",
        other => other,
    }
}

/// The batch as one export request, encoded.
pub(super) fn encode(batch: &[Arc<Event>], service_name: &str) -> Vec<u8> {
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", service_name)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    ..Default::default()
                }),
                spans: batch.iter().map(|e| span(e)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    request.encode_to_vec()
}

/// One request's span: from its start to its end, with its attributes.
fn span(e: &Event) -> Span {
    let end = nanos(e.ended_at.duration_since(UNIX_EPOCH).unwrap_or_default());
    let start = end.saturating_sub(nanos(e.latency));
    let operation = operation_name(&e.route);
    let mut attributes = Vec::with_capacity(16);
    if let Some(operation) = operation {
        attributes.push(text("gen_ai.operation.name", operation));
    }
    if let Some(upstream) = &e.upstream {
        let provider = provider_name(upstream.provider);
        attributes.push(text("gen_ai.provider.name", provider));
        // The name before the conventions' 1.37, which many backends still read.
        attributes.push(text("gen_ai.system", provider));
        attributes.push(text("gen_ai.response.model", &upstream.model));
    }
    if let Some(model) = &e.model {
        attributes.push(text("gen_ai.request.model", model));
    }
    if let Some(usage) = e.usage {
        attributes.push(int("gen_ai.usage.input_tokens", usage.prompt_tokens));
        attributes.push(int("gen_ai.usage.output_tokens", usage.completion_tokens));
    }
    attributes.push(double(
        "gen_ai.client.operation.duration",
        e.latency.as_secs_f64(),
    ));
    if let Some(first) = e.first_byte {
        attributes.push(double(
            "gen_ai.server.time_to_first_token",
            first.as_secs_f64(),
        ));
    }
    attributes.push(text("http.request.method", e.method.as_str()));
    attributes.push(text("url.path", &e.route));
    if let Some(status) = e.status {
        attributes.push(int("http.response.status_code", status.into()));
    }
    if let Some(id) = e.request_id.as_ref().and_then(|v| v.to_str().ok()) {
        attributes.push(KeyValue {
            key: "http.request.header.x-request-id".to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![string_value(id)],
                })),
            }),
        });
    }
    attributes.push(text("gateway.outcome", outcome_label(e.outcome)));
    let failed = !super::is_success(e);
    let model = e.model.as_deref().unwrap_or("");
    let name = match operation {
        Some(operation) if !model.is_empty() => format!("{operation} {model}"),
        Some(operation) => operation.to_string(),
        None => format!("{} {}", e.method, e.route),
    };
    // Unset (the default) for a success, as the conventions ask of instrumentation.
    let status = if failed {
        Status {
            code: StatusCode::Error as i32,
            message: outcome_label(e.outcome).to_string(),
        }
    } else {
        Status::default()
    };
    let (trace_id, span_id) = ids();
    Span {
        trace_id,
        span_id,
        name,
        kind: SpanKind::Client as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        status: Some(status),
        ..Default::default()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A new trace id (16 bytes) and span id (8), random and never all zero (which OTLP
/// reads as invalid): hashes of a counter under the process's random hash keys.
fn ids() -> (Vec<u8>, Vec<u8>) {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = |salt: u64| {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(salt);
        h.finish() | 1
    };
    let mut trace = Vec::with_capacity(16);
    trace.extend_from_slice(&random(1).to_be_bytes());
    trace.extend_from_slice(&random(2).to_be_bytes());
    (trace, random(3).to_be_bytes().to_vec())
}

fn string_value(value: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(value.to_string())),
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(string_value(value)),
    }
}

fn int(key: &str, value: u64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(
                i64::try_from(value).unwrap_or(i64::MAX),
            )),
        }),
    }
}

fn double(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_the_conventions_operation_names() {
        assert_eq!(operation_name("/v1/chat/completions"), Some("chat"));
        assert_eq!(operation_name("/chat/completions"), Some("chat"));
        assert_eq!(operation_name("/v1/messages"), Some("chat"));
        assert_eq!(operation_name("/v1/embeddings"), Some("embeddings"));
        assert_eq!(operation_name("/v1/completions"), Some("text_completion"));
        assert_eq!(operation_name("/v1/models"), None);
    }

    #[test]
    fn span_ids_differ_and_are_never_zero() {
        let (t1, s1) = ids();
        let (t2, s2) = ids();
        assert_ne!(t1, t2);
        assert_ne!(s1, s2);
        assert_eq!((t1.len(), s1.len()), (16, 8));
        assert!(t1.iter().any(|b| *b != 0) && s1.iter().any(|b| *b != 0));
    }
}
