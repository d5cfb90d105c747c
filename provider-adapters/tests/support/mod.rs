//! A fake upstream on 127.0.0.1:0: records every request, answers from a script, and
//! counts the sockets it sees.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::Channel;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// What the fake upstream answers.
#[derive(Clone)]
pub enum Reply {
    /// A whole body with a status and headers.
    Body {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    },
    /// A streamed body: chunks sent in order, then the end.
    Stream {
        content_type: &'static str,
        chunks: Vec<Bytes>,
        end: End,
    },
    /// Another reply, after a pause.
    Delayed(Duration, Box<Reply>),
}

/// How a streamed body ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Cleanly.
    Close,
    /// Never: the connection stays open with no more data.
    Hang,
    /// The connection is cut mid-body.
    Abort,
}

/// A request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path_and_query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    /// The reply when the script is empty.
    always: Arc<Mutex<Option<Reply>>>,
    /// Streams whose client went away (a send failed).
    pub client_gone: Arc<AtomicUsize>,
    pub gone: Arc<Notify>,
    pub open: Arc<AtomicUsize>,
    /// Most sockets open at once.
    pub max_open: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn json(status: u16, body: &str) -> Reply {
    Reply::Body {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: Bytes::from(body.to_string()),
    }
}

pub fn sse(chunks: &[&str], end: End) -> Reply {
    Reply::Stream {
        content_type: "text/event-stream",
        chunks: chunks.iter().map(|c| Bytes::from(c.to_string())).collect(),
        end,
    }
}

pub fn ndjson(chunks: &[&str], end: End) -> Reply {
    Reply::Stream {
        content_type: "application/x-ndjson",
        chunks: chunks.iter().map(|c| Bytes::from(c.to_string())).collect(),
        end,
    }
}

/// What the connection tasks share.
#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    always: Arc<Mutex<Option<Reply>>>,
    client_gone: Arc<AtomicUsize>,
    gone: Arc<Notify>,
}

impl Shared {
    async fn answer(
        &self,
        req: http::Request<Incoming>,
    ) -> http::Response<http_body_util::combinators::BoxBody<Bytes, std::io::Error>> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        self.seen.lock().unwrap().push(Seen {
            path_and_query: parts
                .uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            headers: parts.headers,
            body,
        });
        let next = self.script.lock().unwrap().pop_front();
        let mut reply = next
            .or_else(|| self.always.lock().unwrap().clone())
            .unwrap_or_else(|| json(500, r#"{"error":"script empty"}"#));
        while let Reply::Delayed(pause, inner) = reply {
            tokio::time::sleep(pause).await;
            reply = *inner;
        }
        respond(reply, self.client_gone.clone(), self.gone.clone())
    }
}

impl Upstream {
    pub async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut upstream = Self {
            addr,
            seen: Arc::default(),
            script: Arc::new(Mutex::new(VecDeque::from(replies))),
            always: Arc::default(),
            client_gone: Arc::new(AtomicUsize::new(0)),
            gone: Arc::new(Notify::new()),
            open: Arc::new(AtomicUsize::new(0)),
            max_open: Arc::new(AtomicUsize::new(0)),
            task: tokio::spawn(async {}),
        };
        let shared = Shared {
            seen: upstream.seen.clone(),
            script: upstream.script.clone(),
            always: upstream.always.clone(),
            client_gone: upstream.client_gone.clone(),
            gone: upstream.gone.clone(),
        };
        let (open, max_open) = (upstream.open.clone(), upstream.max_open.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let now_open = open.fetch_add(1, Ordering::SeqCst) + 1;
                max_open.fetch_max(now_open, Ordering::SeqCst);
                let (shared, open) = (shared.clone(), open.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(shared.answer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        upstream.task.abort();
        upstream.task = task;
        upstream
    }

    /// Answers `reply` whenever the script is empty.
    pub fn always(&self, reply: Reply) {
        *self.always.lock().unwrap() = Some(reply);
    }

    /// Adds replies to the script.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    /// Requests seen so far.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self, i: usize) -> Seen {
        self.seen.lock().unwrap()[i].clone()
    }

    /// Waits (bounded) until a stream's client went away.
    pub async fn wait_client_gone(&self, within: Duration) {
        let notified = self.gone.notified();
        if self.client_gone.load(Ordering::SeqCst) > 0 {
            return;
        }
        tokio::time::timeout(within, notified)
            .await
            .expect("the upstream saw the client go away in time");
    }
}

fn respond(
    reply: Reply,
    client_gone: Arc<AtomicUsize>,
    gone: Arc<Notify>,
) -> http::Response<http_body_util::combinators::BoxBody<Bytes, std::io::Error>> {
    match reply {
        Reply::Body {
            status,
            headers,
            body,
        } => {
            let mut res =
                http::Response::new(Full::new(body).map_err(|never| match never {}).boxed());
            *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
            for (k, v) in headers {
                res.headers_mut().insert(k, v.parse().unwrap());
            }
            res
        }
        Reply::Delayed(_, inner) => respond(*inner, client_gone, gone),
        Reply::Stream {
            content_type,
            chunks,
            end,
        } => {
            let (mut tx, body) = Channel::<Bytes, std::io::Error>::new(1);
            tokio::spawn(async move {
                for chunk in chunks {
                    if tx.send_data(chunk).await.is_err() {
                        client_gone.fetch_add(1, Ordering::SeqCst);
                        gone.notify_waiters();
                        return;
                    }
                }
                match end {
                    End::Close => {}
                    End::Abort => tx.abort(std::io::Error::other("cut")),
                    End::Hang => {
                        // Send nothing (empty frames are not written), only notice
                        // when the client goes away.
                        loop {
                            if tx.send_data(Bytes::new()).await.is_err() {
                                client_gone.fetch_add(1, Ordering::SeqCst);
                                gone.notify_waiters();
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            });
            let mut res = http::Response::new(body.boxed());
            res.headers_mut()
                .insert("content-type", content_type.parse().unwrap());
            res
        }
    }
}
