//! The callbacks that send each request's event somewhere: `litellm_settings.callbacks`
//! (every request), `success_callback` and `failure_callback` name them; the gateway's
//! own `callbacks` section sets the webhook and the batching; `otel` and `langfuse`
//! read their standard environment variables.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use serde_norway::Value;

use super::reader::{describe, entries, near_miss, Ctx, MAX_COUNT};

/// Default `callbacks.batch_size`: most events in one POST.
pub const DEFAULT_CALLBACK_BATCH: usize = 256;
/// Default `callbacks.flush_interval_s`: the longest an event waits for its batch to
/// fill before it is sent anyway.
pub const DEFAULT_CALLBACK_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Default `callbacks.timeout_s`: the longest one POST (connect, send, answer) takes.
pub const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);
/// The OTLP/HTTP traces endpoint when no `OTEL_EXPORTER_OTLP_*ENDPOINT` is set (a
/// collector on this machine, as the OpenTelemetry SDKs default to).
pub const DEFAULT_OTLP_TRACES_ENDPOINT: &str = "http://localhost:4318/v1/traces";
/// Langfuse's host when `LANGFUSE_HOST` is not set.
pub const DEFAULT_LANGFUSE_HOST: &str = "https://cloud.langfuse.com";
/// The spans' `service.name` when `OTEL_SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE_NAME: &str = "llm-gateway";

/// Which requests a callback sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// Every request (`callbacks`, or both lists).
    All,
    /// Requests answered 2xx/3xx whose body was delivered whole (`success_callback`).
    Successes,
    /// Every other request (`failure_callback`).
    Failures,
}

/// The kinds of callbacks the gateway sends itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// `otel`: OTLP/HTTP protobuf traces, one span per request.
    Otel,
    /// `langfuse` (or `langfuse_otel`): the same spans to Langfuse's OTLP endpoint.
    Langfuse,
    /// `webhook`: a JSON array of events POSTed to `callbacks.webhook_url`.
    Webhook,
}

impl SinkKind {
    /// The name the config uses (and the callback registry's name for it).
    pub fn name(self) -> &'static str {
        match self {
            SinkKind::Otel => "otel",
            SinkKind::Langfuse => "langfuse",
            SinkKind::Webhook => "webhook",
        }
    }
}

/// One callback the gateway runs: where its batches go, and with which headers.
#[derive(Debug, Clone)]
pub struct Sink {
    /// What it sends.
    pub kind: SinkKind,
    /// Which requests.
    pub only: Only,
    /// The URL POSTed to.
    pub url: Uri,
    /// Headers sent with every POST (marked sensitive: never logged).
    pub headers: HeaderMap,
}

/// Every callback, and how they batch.
#[derive(Debug, Clone)]
pub struct CallbacksConfig {
    /// The callbacks, at most one of each kind.
    pub sinks: Vec<Sink>,
    /// Most events in one POST. Default [`DEFAULT_CALLBACK_BATCH`].
    pub batch_size: usize,
    /// Longest wait for a batch to fill. Default [`DEFAULT_CALLBACK_FLUSH_INTERVAL`].
    pub flush_interval: Duration,
    /// Longest one POST takes. Default [`DEFAULT_CALLBACK_TIMEOUT`].
    pub timeout: Duration,
    /// The spans' `service.name`: `OTEL_SERVICE_NAME`, else [`DEFAULT_SERVICE_NAME`].
    pub service_name: String,
}

/// A name from one of `litellm_settings`' callback lists.
pub(crate) struct Named {
    key: String,
    name: String,
    only: Only,
}

/// The names of a `litellm_settings` callback list (`key`), or a precise error.
pub(crate) fn names(ctx: &mut Ctx<'_>, key: &str, value: &Value, out: &mut Vec<Named>) {
    let path = format!("litellm_settings.{key}");
    let only = match key {
        "success_callback" => Only::Successes,
        "failure_callback" => Only::Failures,
        _ => Only::All,
    };
    let items: Vec<Value> = match value {
        Value::Sequence(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };
    for item in &items {
        match item {
            Value::String(name) => out.push(Named {
                key: key.to_string(),
                name: name.clone(),
                only,
            }),
            other => ctx.error(
                &path,
                format!(
                    "must be a list of callback names, got {} in it",
                    describe(other)
                ),
            ),
        }
    }
}

/// The `callbacks` section and the callbacks `named` in `litellm_settings`.
pub(crate) fn callbacks(
    ctx: &mut Ctx<'_>,
    value: Option<&Value>,
    named: &[Named],
) -> CallbacksConfig {
    const KNOWN: &[&str] = &[
        "webhook_url",
        "webhook_headers",
        "batch_size",
        "flush_interval_s",
        "timeout_s",
    ];
    let mut config = CallbacksConfig {
        sinks: Vec::new(),
        batch_size: DEFAULT_CALLBACK_BATCH,
        flush_interval: DEFAULT_CALLBACK_FLUSH_INTERVAL,
        timeout: DEFAULT_CALLBACK_TIMEOUT,
        service_name: ctx
            .var("OTEL_SERVICE_NAME")
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string()),
    };
    let mut webhook_url = None;
    let mut webhook_headers = HeaderMap::new();
    for (key, value) in entries(ctx, "callbacks", value) {
        let path = format!("callbacks.{key}");
        match key.as_str() {
            "webhook_url" => {
                webhook_url = ctx
                    .string(&path, Some(&value))
                    .and_then(|u| url(ctx, &path, &u))
            }
            "webhook_headers" => {
                for (name, v) in entries(ctx, &path, Some(&value)) {
                    let header_path = format!("{path}.{name}");
                    if let Some(v) = ctx.string(&header_path, Some(&v)) {
                        header(ctx, &header_path, &mut webhook_headers, &name, &v);
                    }
                }
            }
            "batch_size" => {
                if let Some(n) = ctx.whole(&path, Some(&value), 1, MAX_COUNT) {
                    config.batch_size = usize::try_from(n).unwrap_or(DEFAULT_CALLBACK_BATCH);
                }
            }
            "flush_interval_s" => {
                config.flush_interval = ctx
                    .seconds(&path, Some(&value))
                    .unwrap_or(config.flush_interval)
            }
            "timeout_s" => {
                config.timeout = ctx.seconds(&path, Some(&value)).unwrap_or(config.timeout)
            }
            other => {
                let hint = near_miss(other, KNOWN)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                ctx.error(
                    &path,
                    format!(
                        "unknown field `{other}`{hint}; `callbacks` takes {}",
                        KNOWN.join(", ")
                    ),
                );
            }
        }
    }
    config.sinks = sinks(ctx, named, webhook_url, webhook_headers);
    config
}

/// The sinks `named` in `litellm_settings`, at most one of each kind; unknown names
/// are ignored with a warning.
fn sinks(
    ctx: &mut Ctx<'_>,
    named: &[Named],
    webhook_url: Option<Uri>,
    webhook_headers: HeaderMap,
) -> Vec<Sink> {
    let mut out = Vec::new();
    for n in named {
        let path = format!("litellm_settings.{}", n.key);
        let sink = match n.name.as_str() {
            "otel" => otel(ctx, &path),
            "langfuse" | "langfuse_otel" => langfuse(ctx, &n.key),
            "webhook" => match &webhook_url {
                Some(url) => Some(Sink {
                    kind: SinkKind::Webhook,
                    only: n.only,
                    url: url.clone(),
                    headers: webhook_headers.clone(),
                }),
                None => {
                    ctx.error(
                        &path,
                        "names `webhook`, but `callbacks.webhook_url` is not set",
                    );
                    None
                }
            },
            other => {
                ctx.warnings.push(format!(
                    "{}: {path}: callback `{other}` is not supported here; ignored (supported: otel, langfuse, webhook)",
                    ctx.file
                ));
                ctx.ignored.add("litellm_settings", &n.key);
                None
            }
        };
        if let Some(mut sink) = sink {
            sink.only = n.only;
            add(&mut out, sink);
        }
    }
    out
}

/// Adds `sink`, or widens the one of its kind already there (named in both the
/// success and the failure list, it sees every request).
fn add(sinks: &mut Vec<Sink>, sink: Sink) {
    match sinks.iter_mut().find(|s| s.kind == sink.kind) {
        Some(existing) if existing.only != sink.only => existing.only = Only::All,
        Some(_) => {}
        None => sinks.push(sink),
    }
}

/// `otel`: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, else
/// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else the local collector; headers
/// from `OTEL_EXPORTER_OTLP_TRACES_HEADERS` or `OTEL_EXPORTER_OTLP_HEADERS`.
fn otel(ctx: &mut Ctx<'_>, path: &str) -> Option<Sink> {
    let endpoint = match ctx.var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        Some(url) => url,
        None => match ctx.var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(base) => format!("{}/v1/traces", base.trim_end_matches('/')),
            None => DEFAULT_OTLP_TRACES_ENDPOINT.to_string(),
        },
    };
    let url = url(ctx, path, &endpoint)?;
    let mut headers = HeaderMap::new();
    let list = ctx
        .var("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        .or_else(|| ctx.var("OTEL_EXPORTER_OTLP_HEADERS"))
        .unwrap_or_default();
    // `key=value,key=value`, values percent-encoded (the OpenTelemetry spec's format).
    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((name, value)) => {
                let value = percent_decode(value.trim());
                header(ctx, path, &mut headers, name.trim(), &value);
            }
            None => ctx.error(
                path,
                "OTEL_EXPORTER_OTLP_HEADERS must be `name=value` pairs separated by commas",
            ),
        }
    }
    Some(Sink {
        kind: SinkKind::Otel,
        only: Only::All,
        url,
        headers,
    })
}

/// `langfuse`: `{LANGFUSE_HOST}/api/public/otel/v1/traces`, Basic auth of
/// `LANGFUSE_PUBLIC_KEY:LANGFUSE_SECRET_KEY`. Without the keys it is ignored, with a
/// warning (as LiteLLM configs often name it before the keys are set).
fn langfuse(ctx: &mut Ctx<'_>, key: &str) -> Option<Sink> {
    let path = format!("litellm_settings.{key}");
    let (Some(public), Some(secret)) = (
        ctx.var("LANGFUSE_PUBLIC_KEY"),
        ctx.var("LANGFUSE_SECRET_KEY"),
    ) else {
        ctx.warnings.push(format!(
            "{}: {path}: callback `langfuse` needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY; ignored",
            ctx.file
        ));
        ctx.ignored.add("litellm_settings", key);
        return None;
    };
    let host = ctx
        .var("LANGFUSE_HOST")
        .unwrap_or_else(|| DEFAULT_LANGFUSE_HOST.to_string());
    let url = url(
        ctx,
        &path,
        &format!("{}/api/public/otel/v1/traces", host.trim_end_matches('/')),
    )?;
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{public}:{secret}"));
    let mut headers = HeaderMap::new();
    header(
        ctx,
        &path,
        &mut headers,
        "authorization",
        &format!("Basic {token}"),
    );
    Some(Sink {
        kind: SinkKind::Langfuse,
        only: Only::All,
        url,
        headers,
    })
}

/// An absolute `http://` or `https://` URL.
fn url(ctx: &mut Ctx<'_>, path: &str, text: &str) -> Option<Uri> {
    match text.parse::<Uri>() {
        Ok(uri)
            if matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some() =>
        {
            Some(uri)
        }
        _ => {
            ctx.error(path, format!("`{text}` is not an http:// or https:// URL"));
            None
        }
    }
}

/// Adds a header (marked sensitive), or notes why it cannot be one.
fn header(ctx: &mut Ctx<'_>, path: &str, headers: &mut HeaderMap, name: &str, value: &str) {
    match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        (Ok(name), Ok(mut value)) => {
            value.set_sensitive(true);
            headers.append(name, value);
        }
        (Err(_), _) => ctx.error(path, format!("`{name}` is not a valid header name")),
        (_, Err(_)) => ctx.error(
            path,
            format!("the value of header `{name}` is not valid in a header"),
        ),
    }
}

/// `%XX` sequences decoded (an invalid one is kept as it is).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("Basic%20abc%3D"), "Basic abc=");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
