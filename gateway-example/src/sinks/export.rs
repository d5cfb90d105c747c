//! One sink's exporter task: gathers events into batches (up to `batch_size`, or
//! what came within `flush_interval` of the first) and sends each, bounded by
//! `timeout`: OTLP through the official exporter, JSON as one POST. A failed export
//! is logged at `WARN` and its batch dropped: the exporter never retries, so a dead
//! collector costs one bounded export per interval.
//!
//! Every byte goes through [`PoolHttpClient`], our client as the OpenTelemetry
//! exporter's [`HttpClient`]: the sinks' connections stay on their own small pool,
//! every exchange is bounded in time and in the answer's size.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full, Limited};
use limits_layer::callbacks::Event;
use opentelemetry_http::{HttpClient, HttpError};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::otlp::OtlpSpans;
use crate::metrics::ExportCounters;

/// Most bytes of a collector's answer read (then the connection is given up).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Where and how a batch is sent.
#[derive(Debug)]
pub(super) enum Transport {
    /// OTLP/HTTP protobuf spans, by the official exporter.
    Otlp(OtlpSpans),
    /// A JSON array of events, POSTed to `url`.
    Json {
        /// The client, with the sink's headers.
        client: PoolHttpClient,
        /// The URL POSTed to.
        url: Uri,
    },
}

/// One sink's exporter.
#[derive(Debug)]
pub(super) struct Exporter {
    pub(super) name: &'static str,
    /// Counted after every export (`/metrics`).
    pub(super) exports: ExportCounters,
    /// Where the batches go (for the logs).
    pub(super) url: Uri,
    pub(super) transport: Transport,
    pub(super) batch_size: usize,
    pub(super) flush_interval: Duration,
    pub(super) timeout: Duration,
}

impl Exporter {
    /// Runs until the channel closes (the registry, and so the callback, is gone),
    /// sending what is left first.
    pub(super) async fn run(self, mut events: mpsc::Receiver<Arc<Event>>) {
        let mut batch = Vec::with_capacity(self.batch_size);
        while events.recv_many(&mut batch, self.batch_size).await > 0 {
            let deadline = Instant::now() + self.flush_interval;
            while batch.len() < self.batch_size {
                let room = self.batch_size - batch.len();
                match tokio::time::timeout_at(deadline, events.recv_many(&mut batch, room)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            match self.send(&batch).await {
                Ok(()) => self.exports.exported(batch.len()),
                Err(problem) => {
                    self.exports.failed(batch.len());
                    tracing::warn!(
                    callback = self.name,
                    url = %self.url,
                    events = batch.len(),
                    "callback export failed, events dropped: {problem}"
                    );
                }
            }
            batch.clear();
        }
    }

    /// Sends one batch and reads the answer, all within `timeout`.
    async fn send(&self, batch: &[Arc<Event>]) -> Result<(), String> {
        let exchange = async {
            match &self.transport {
                Transport::Otlp(spans) => spans.export(batch).await,
                Transport::Json { client, url } => {
                    let body = Bytes::from(super::webhook::encode(batch));
                    let req = Request::builder()
                        .method(Method::POST)
                        .uri(url.clone())
                        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                        .body(body)
                        .map_err(|e| e.to_string())?;
                    let res = client.exchange(req).await.map_err(|e| e.to_string())?;
                    match res.status() {
                        status if status.is_success() => Ok(()),
                        status => Err(format!("answered {status}")),
                    }
                }
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

// === impl PoolHttpClient ===

/// Our [`pool_layer::Client`] as an OpenTelemetry [`HttpClient`], for one sink.
///
/// A request goes out with the sink's configured headers and only the exporter's
/// `content-type`, `content-encoding` and `user-agent`: the OTLP exporter also adds
/// `OTEL_EXPORTER_OTLP_HEADERS` from the process environment to every exporter it
/// builds, and the collector's credentials must never reach Langfuse (or the other
/// way round).
#[derive(Debug, Clone)]
pub(super) struct PoolHttpClient {
    client: pool_layer::Client<Full<Bytes>>,
    /// The sink's headers (marked sensitive).
    headers: HeaderMap,
    /// The longest one exchange takes, answer read included.
    timeout: Duration,
}

impl PoolHttpClient {
    /// A client for one sink, on the sinks' shared `client`.
    pub(super) fn new(
        client: pool_layer::Client<Full<Bytes>>,
        headers: HeaderMap,
        timeout: Duration,
    ) -> Self {
        Self {
            client,
            headers,
            timeout,
        }
    }

    /// Sends `req` with the sink's headers and reads the answer (at most
    /// [`MAX_ANSWER_BYTES`]), all within the timeout.
    pub(super) async fn exchange(&self, req: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (mut parts, body) = req.into_parts();
        let mut headers = self.headers.clone();
        for name in [CONTENT_TYPE, CONTENT_ENCODING, USER_AGENT] {
            if let Some(value) = parts.headers.remove(&name) {
                headers.insert(name, value);
            }
        }
        parts.headers = headers;
        let req = Request::from_parts(parts, Full::new(body));
        let exchange = async {
            let res = self.client.request(req).await.map_err(ExchangeError::of)?;
            let (parts, body) = res.into_parts();
            // Read the answer whole so the connection can be reused (bounded).
            let body = Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(ExchangeError::of)?;
            Ok(Response::from_parts(parts, body.to_bytes()))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(elapsed) => Err(ExchangeError::of(format!(
                "no answer within {:?} ({elapsed})",
                self.timeout
            ))),
        }
    }
}

/// Why an exchange failed, its `Debug` the error's whole `source()` chain in words:
/// the OTLP exporter puts `{:?}` of our error into the message we log.
struct ExchangeError(HttpError);

impl ExchangeError {
    fn of(err: impl Into<HttpError>) -> HttpError {
        Box::new(Self(err.into()))
    }
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ExchangeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

#[async_trait]
impl HttpClient for PoolHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.exchange(request).await
    }
}
