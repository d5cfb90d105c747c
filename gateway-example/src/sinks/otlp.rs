//! Events as OpenTelemetry spans, one per request, with the GenAI semantic
//! conventions' attributes: each event becomes an `opentelemetry_sdk` [`SpanData`]
//! (its start and end taken from the event), and a batch goes out through the official
//! [`opentelemetry_otlp::SpanExporter`] over OTLP/HTTP protobuf, whose HTTP client is
//! ours ([`PoolHttpClient`]: the exporters' bounded pool, with its timeout).
//!
//! The spans do not go through an SDK tracer or its batch processor: the exporter task
//! ([`super::export`]) already batches, bounds and times every export, and a request's
//! span is known whole only when its event is made.

use std::collections::HashMap;
use std::time::Duration;

use http::{HeaderMap, Uri};
use limits_layer::callbacks::Event;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_otlp::{ExporterBuildError, Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, SpanData, SpanEvents, SpanExporter as _, SpanLinks,
};
use opentelemetry_sdk::Resource;

use super::export::PoolHttpClient;
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

/// One OTLP sink: the official exporter, and the scope its spans are stamped with.
#[derive(Debug)]
pub(super) struct OtlpSpans {
    exporter: opentelemetry_otlp::SpanExporter,
    scope: InstrumentationScope,
    ids: RandomIdGenerator,
}

impl OtlpSpans {
    /// An exporter to `url` (the full traces URL, used as it is) sending `headers`,
    /// through `client`, for spans of the resource `service_name`.
    ///
    /// The endpoint, headers and timeout are given explicitly, so the exporter's own
    /// reading of `OTEL_EXPORTER_OTLP_*ENDPOINT`/`*TIMEOUT` never applies; the config
    /// read those variables already (and its errors name them).
    pub(super) fn new(
        url: &Uri,
        headers: &HeaderMap,
        client: PoolHttpClient,
        timeout: Duration,
        service_name: &str,
    ) -> Result<Self, ExporterBuildError> {
        // The exporter takes headers as text (one value a name, percent-decoded once
        // more); `client` sends the sink's `HeaderMap` itself, byte for byte.
        let headers: HashMap<String, String> = headers
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.to_string())
            .with_timeout(timeout)
            .with_headers(headers)
            .with_http_client(client)
            .build()?;
        // The standard resource (`telemetry.sdk.*`, `OTEL_RESOURCE_ATTRIBUTES`) with the
        // configured `service.name`.
        exporter.set_resource(
            &Resource::builder()
                .with_service_name(service_name.to_string())
                .build(),
        );
        Ok(Self {
            exporter,
            scope: InstrumentationScope::builder(SCOPE_NAME)
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
            ids: RandomIdGenerator::default(),
        })
    }

    /// Exports the batch as one `ExportTraceServiceRequest`; the error says why not.
    pub(super) async fn export(&self, batch: &[std::sync::Arc<Event>]) -> Result<(), String> {
        let spans = batch.iter().map(|e| self.span(e)).collect();
        self.exporter.export(spans).await.map_err(|e| e.to_string())
    }

    /// One request's span: from its start to its end, with its attributes.
    fn span(&self, e: &Event) -> SpanData {
        let end = e.ended_at;
        let start = end.checked_sub(e.latency).unwrap_or(end);
        let operation = operation_name(&e.route);
        let model = e.model.as_deref().unwrap_or("");
        let name = match operation {
            Some(operation) if !model.is_empty() => format!("{operation} {model}"),
            Some(operation) => operation.to_string(),
            None => format!("{} {}", e.method, e.route),
        };
        // Unset (the default) for a success, as the conventions ask of instrumentation.
        let status = if super::is_success(e) {
            Status::Unset
        } else {
            Status::error(outcome_label(e.outcome))
        };
        let context = SpanContext::new(
            self.ids.new_trace_id(),
            self.ids.new_span_id(),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        SpanData {
            span_context: context,
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Client,
            name: name.into(),
            start_time: start,
            end_time: end,
            attributes: attributes(e, operation),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        }
    }
}

/// The span's attributes: the GenAI conventions', then HTTP's, then ours.
fn attributes(e: &Event, operation: Option<&'static str>) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(16);
    if let Some(operation) = operation {
        attributes.push(KeyValue::new("gen_ai.operation.name", operation));
    }
    if let Some(upstream) = &e.upstream {
        let provider = Value::from(provider_name(upstream.provider).to_string());
        attributes.push(KeyValue::new("gen_ai.provider.name", provider.clone()));
        // The name before the conventions' 1.37, which many backends still read.
        attributes.push(KeyValue::new("gen_ai.system", provider));
        attributes.push(KeyValue::new(
            "gen_ai.response.model",
            upstream.model.clone(),
        ));
    }
    if let Some(model) = &e.model {
        attributes.push(KeyValue::new("gen_ai.request.model", model.clone()));
    }
    if !e.finish_reasons.is_empty() {
        let reasons = e
            .finish_reasons
            .iter()
            .map(|r| StringValue::from(r.as_str().to_string()))
            .collect();
        attributes.push(KeyValue::new(
            "gen_ai.response.finish_reasons",
            Value::Array(Array::String(reasons)),
        ));
    }
    if let Some(usage) = e.usage {
        attributes.push(KeyValue::new(
            "gen_ai.usage.input_tokens",
            int(usage.prompt_tokens),
        ));
        attributes.push(KeyValue::new(
            "gen_ai.usage.output_tokens",
            int(usage.completion_tokens),
        ));
    }
    attributes.push(KeyValue::new(
        "gen_ai.client.operation.duration",
        e.latency.as_secs_f64(),
    ));
    if let Some(first) = e.first_byte {
        attributes.push(KeyValue::new(
            "gen_ai.server.time_to_first_token",
            first.as_secs_f64(),
        ));
    }
    attributes.push(KeyValue::new("http.request.method", e.method.to_string()));
    attributes.push(KeyValue::new("url.path", e.route.to_string()));
    if let Some(status) = e.status {
        attributes.push(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
    }
    if let Some(id) = e.request_id.as_ref().and_then(|v| v.to_str().ok()) {
        // The conventions' request headers are string arrays (a header may repeat).
        attributes.push(KeyValue::new(
            "http.request.header.x-request-id",
            Value::Array(Array::String(vec![StringValue::from(id.to_string())])),
        ));
    }
    attributes.push(KeyValue::new("gateway.outcome", outcome_label(e.outcome)));
    attributes
}

/// A count as OTLP's signed integer (saturating: no count comes near it).
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use limits_layer::callbacks::{FinishReason, FinishReasons, Outcome};

    fn spans() -> OtlpSpans {
        let client = pool_layer::Client::builder().build();
        let http = PoolHttpClient::new(client, HeaderMap::new(), Duration::from_secs(1));
        let url = Uri::from_static("http://127.0.0.1:9/v1/traces");
        OtlpSpans::new(&url, &HeaderMap::new(), http, Duration::from_secs(1), "svc")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    #[tokio::test]
    async fn finish_reasons_become_a_string_array() {
        let mut event = Event::new("/v1/chat/completions");
        event.finish_reasons = [FinishReason::new("stop"), FinishReason::new("length")]
            .into_iter()
            .collect::<FinishReasons>();
        let span = spans().span(&event);
        let Some(Value::Array(Array::String(reasons))) =
            attr(&span, "gen_ai.response.finish_reasons")
        else {
            panic!("{:?}", span.attributes);
        };
        let reasons: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
        assert_eq!(reasons, ["stop", "length"]);
        let none = spans().span(&Event::new("/v1/chat/completions"));
        assert!(attr(&none, "gen_ai.response.finish_reasons").is_none());
    }

    #[tokio::test]
    async fn a_span_runs_from_the_requests_start_to_its_end_with_fresh_ids() {
        let spans = spans();
        let mut event = Event::new("/v1/embeddings");
        event.latency = Duration::from_millis(250);
        event.status = Some(500);
        event.outcome = Outcome::Failed;
        let (a, b) = (spans.span(&event), spans.span(&event));
        assert_eq!(a.end_time, event.ended_at);
        assert_eq!(
            a.end_time.duration_since(a.start_time).ok(),
            Some(Duration::from_millis(250))
        );
        assert!(a.span_context.is_valid() && b.span_context.is_valid());
        assert_ne!(a.span_context.trace_id(), b.span_context.trace_id());
        assert_eq!(a.name, "embeddings");
        assert!(matches!(a.status, Status::Error { .. }), "{:?}", a.status);
        assert_eq!(a.instrumentation_scope.name(), SCOPE_NAME);
    }

    #[test]
    fn routes_map_to_the_conventions_operation_names() {
        assert_eq!(operation_name("/v1/chat/completions"), Some("chat"));
        assert_eq!(operation_name("/chat/completions"), Some("chat"));
        assert_eq!(operation_name("/v1/messages"), Some("chat"));
        assert_eq!(operation_name("/v1/embeddings"), Some("embeddings"));
        assert_eq!(operation_name("/v1/completions"), Some("text_completion"));
        assert_eq!(operation_name("/v1/models"), None);
    }
}
