//! Streaming through the gateway, measured: time to first event and total time of
//! streams, direct to a loopback SSE upstream and through a gateway.
//!
//! ```text
//! stream-bench upstream PORT               # an SSE upstream: 20 events, 5 ms apart
//!                                          # (and a JSON answer without "stream":true)
//! stream-bench measure DIRECT_URL GATEWAY_URL [STREAMS] [ROUNDS] [NGINX_URL]
//! ```
//! `measure` prints one JSON object per target (nginx too when its URL is given: a
//! reverse proxy with buffering off, for reference), then the time to first event
//! each proxy adds over direct.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

const EVENTS: usize = 20;
const GAP: Duration = Duration::from_millis(5);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("upstream") => upstream(args.get(1).ok_or("upstream PORT")?.parse()?).await,
        Some("measure") => {
            let direct = args.get(1).ok_or("measure DIRECT_URL GATEWAY_URL")?.clone();
            let gateway = args.get(2).ok_or("measure DIRECT_URL GATEWAY_URL")?.clone();
            let streams: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(16);
            let rounds: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(10);
            let mut targets = vec![("direct", direct), ("gateway", gateway)];
            if let Some(nginx) = args.get(5) {
                targets.push(("nginx", nginx.clone()));
            }
            measure(&targets, streams, rounds).await
        }
        _ => Err(
            "usage: stream-bench upstream PORT | measure DIRECT_URL GATEWAY_URL [STREAMS] [ROUNDS] [NGINX_URL]"
                .into(),
        ),
    }
}

async fn upstream(port: u16) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(
                |req: http::Request<hyper::body::Incoming>| async move {
                    let body = req
                        .into_body()
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    if !body.windows(13).any(|w| w == b"\"stream\":true") {
                        // Non-streaming requests (the soak test mixes them in) get one answer.
                        let answer = r#"{"id":"s","object":"chat.completion","created":0,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
                        let mut res = http::Response::new(http_body_util::Either::Left(Full::new(
                            Bytes::from_static(answer.as_bytes()),
                        )));
                        res.headers_mut().insert(
                            "content-type",
                            http::HeaderValue::from_static("application/json"),
                        );
                        return Ok::<_, Infallible>(res);
                    }
                    let (mut tx, body) =
                        http_body_util::channel::Channel::<Bytes, Infallible>::new(4);
                    tokio::spawn(async move {
                        for i in 0..EVENTS {
                            let chunk = format!(
                            "data: {{\"id\":\"s\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token{i} \"}},\"finish_reason\":null}}]}}\n\n"
                        );
                            if tx.send_data(Bytes::from(chunk)).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(GAP).await;
                        }
                        let last = "data: {\"id\":\"s\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
                        let _ = tx.send_data(Bytes::from_static(last.as_bytes())).await;
                    });
                    let mut res = http::Response::new(http_body_util::Either::Right(body));
                    res.headers_mut().insert(
                        "content-type",
                        http::HeaderValue::from_static("text/event-stream"),
                    );
                    Ok::<_, Infallible>(res)
                },
            );
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// (time to first event, total) of one stream, in milliseconds.
async fn one(client: &pool_layer::Client<Full<Bytes>>, url: &str) -> Result<(f64, f64), String> {
    let body = r#"{"model":"stream","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let req = http::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let res = client.request(req).await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("status {}", res.status()));
    }
    let mut body = res.into_body();
    let mut first = None;
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Some(data) = frame.data_ref() {
            if first.is_none() && !data.is_empty() {
                first = Some(start.elapsed());
            }
            text.extend_from_slice(data);
        }
    }
    if !text.ends_with(b"data: [DONE]\n\n") {
        return Err("stream did not finish".into());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok((ms(first.unwrap_or_default()), ms(start.elapsed())))
}

async fn measure(
    targets: &[(&str, String)],
    streams: usize,
    rounds: usize,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let client: pool_layer::Client<Full<Bytes>> = pool_layer::Client::builder().build();
    let mut samples: Vec<(Vec<f64>, Vec<f64>)> = vec![Default::default(); targets.len()];
    // Warm up every target (connections, caches), then interleave rounds.
    for (_, url) in targets {
        one(&client, url).await?;
    }
    for _ in 0..rounds {
        for (t, (_, url)) in targets.iter().enumerate() {
            let runs: Vec<_> = (0..streams)
                .map(|_| {
                    let client = client.clone();
                    let url = url.to_string();
                    tokio::spawn(async move { one(&client, &url).await })
                })
                .collect();
            for run in runs {
                let (first, total) = run.await??;
                samples[t].0.push(first);
                samples[t].1.push(total);
            }
        }
    }
    let mut p50_first = Vec::with_capacity(targets.len());
    for ((name, _), (first, total)) in targets.iter().zip(&mut samples) {
        first.sort_by(f64::total_cmp);
        total.sort_by(f64::total_cmp);
        p50_first.push(benches::percentile(first, 50.0));
        println!(
            "{{\"kind\":\"stream\",\"target\":\"{name}\",\"streams\":{streams},\"samples\":{},\"ttfe_p50_ms\":{:.3},\"ttfe_p99_ms\":{:.3},\"total_p50_ms\":{:.3},\"total_p99_ms\":{:.3}}}",
            first.len(),
            benches::percentile(first, 50.0),
            benches::percentile(first, 99.0),
            benches::percentile(total, 50.0),
            benches::percentile(total, 99.0),
        );
    }
    for (i, (name, _)) in targets.iter().enumerate().skip(1) {
        println!(
            "{{\"kind\":\"stream_added\",\"target\":\"{name}\",\"streams\":{streams},\"ttfe_p50_added_ms\":{:.3}}}",
            p50_first[i] - p50_first[0]
        );
    }
    Ok(())
}
