//! One sink's exporter task: gathers events into batches (up to `batch_size`, or
//! what came within `flush_interval` of the first) and POSTs each, bounded by
//! `timeout`. A failed POST is logged at `WARN` and its batch dropped: the exporter
//! never retries, so a dead collector costs one bounded POST per interval.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use limits_layer::callbacks::Event;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most bytes of a collector's answer read (then the connection is given up).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How a batch is written.
#[derive(Debug, Clone)]
pub(super) enum Format {
    /// An OTLP `ExportTraceServiceRequest`, protobuf.
    Otlp {
        /// The resource's `service.name`.
        service_name: Arc<str>,
    },
    /// A JSON array of events.
    Json,
}

impl Format {
    fn content_type(&self) -> HeaderValue {
        match self {
            Format::Otlp { .. } => HeaderValue::from_static("application/x-protobuf"),
            Format::Json => HeaderValue::from_static("application/json"),
        }
    }

    fn encode(&self, batch: &[Arc<Event>]) -> Vec<u8> {
        match self {
            Format::Otlp { service_name } => super::otlp::encode(batch, service_name),
            Format::Json => super::webhook::encode(batch),
        }
    }
}

/// One sink's exporter.
#[derive(Debug)]
pub(super) struct Exporter {
    pub(super) name: &'static str,
    pub(super) client: pool_layer::Client<Full<Bytes>>,
    pub(super) url: Uri,
    pub(super) headers: HeaderMap,
    pub(super) format: Format,
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
            if let Err(problem) = self.post(&batch).await {
                tracing::warn!(
                    callback = self.name,
                    url = %self.url,
                    events = batch.len(),
                    "callback export failed, events dropped: {problem}"
                );
            }
            batch.clear();
        }
    }

    /// POSTs one batch and reads the answer, all within `timeout`.
    async fn post(&self, batch: &[Arc<Event>]) -> Result<(), String> {
        let body = Bytes::from(self.format.encode(batch));
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.url.clone())
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        *req.headers_mut() = self.headers.clone();
        req.headers_mut()
            .insert(CONTENT_TYPE, self.format.content_type());
        let exchange = async {
            let res = self.client.request(req).await.map_err(|e| e.to_string())?;
            let status = res.status();
            // Read the answer so the connection can be reused (bounded).
            let _ = Limited::new(res.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("answered {status}"))
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}
