//! A bounded soak of a running gateway: steady mixed load (streams and plain
//! completions over several models, some clients leaving mid-stream) while sampling
//! the gateway's RSS, open file descriptors and upstream sockets every second. Prints
//! the drift and fails if RSS or descriptors grew more than 5% after warm-up.
//!
//! ```text
//! soak GATEWAY_URL GATEWAY_PID UPSTREAM_PORT [SECONDS] [CONCURRENCY]
//! ```
//! Loopback only; stops by itself after SECONDS (default 600).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    left_early: AtomicU64,
    failed: AtomicU64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: soak GATEWAY_URL GATEWAY_PID UPSTREAM_PORT [SECONDS] [CONCURRENCY]";
    let url = args.first().ok_or(usage)?.clone();
    let pid: u32 = args.get(1).ok_or(usage)?.parse()?;
    let upstream_port: u16 = args.get(2).ok_or(usage)?.parse()?;
    let seconds: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(600);
    let concurrency: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(32);
    if !url.starts_with("http://127.") && !url.starts_with("http://localhost") {
        return Err("the soak only targets loopback addresses".into());
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let counts = Arc::new(Counts::default());
    let client: pool_layer::Client<Full<Bytes>> = pool_layer::Client::builder()
        .max_connections_per_host(1000)
        .build();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (client, url, counts) = (client.clone(), url.clone(), counts.clone());
            tokio::spawn(async move {
                let mut n: u64 = w as u64;
                while Instant::now() < deadline {
                    n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let model = ["chat-a", "chat-b", "chat-c"][(n >> 33) as usize % 3];
                    let stream = (n >> 40) % 2 == 0;
                    let leave_early = stream && (n >> 50) % 10 == 0;
                    let body = format!(r#"{{"model":"{model}","stream":{stream},"messages":[{{"role":"user","content":"soak {n}"}}]}}"#);
                    let req = http::Request::post(format!("{url}/v1/chat/completions")).body(Full::new(Bytes::from(body)));
                    let Ok(req) = req else { continue };
                    match client.request(req).await {
                        Ok(res) if res.status().is_success() => {
                            let mut body = res.into_body();
                            if leave_early {
                                let _ = body.frame().await;
                                drop(body);
                                counts.left_early.fetch_add(1, Ordering::Relaxed);
                            } else if body.collect().await.is_ok() {
                                counts.ok.fetch_add(1, Ordering::Relaxed);
                            } else {
                                counts.failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {
                            counts.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();

    let mut samples: Vec<(u64, u64, u64)> = Vec::new();
    println!("  t   rss_kb   fds  upstream_sockets  ok  left_early  failed");
    let start = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let sample = (rss_kb(pid)?, fds(pid)?, sockets(upstream_port)?);
        samples.push(sample);
        println!(
            "{:>4} {:>8} {:>5} {:>17} {:>6} {:>10} {:>6}",
            start.elapsed().as_secs(),
            sample.0,
            sample.1,
            sample.2,
            counts.ok.load(Ordering::Relaxed),
            counts.left_early.load(Ordering::Relaxed),
            counts.failed.load(Ordering::Relaxed)
        );
    }
    for w in workers {
        let _ = w.await;
    }

    // Warm-up: the first fifth. Compare the second fifth with the last fifth.
    let fifth = (samples.len() / 5).max(1);
    let avg = |range: &[(u64, u64, u64)], f: fn(&(u64, u64, u64)) -> u64| {
        range.iter().map(f).sum::<u64>() as f64 / range.len().max(1) as f64
    };
    let early = &samples[fifth.min(samples.len())..(2 * fifth).min(samples.len())];
    let late = &samples[samples.len().saturating_sub(fifth)..];
    let drift = |f: fn(&(u64, u64, u64)) -> u64| {
        let (a, b) = (avg(early, f), avg(late, f));
        if a == 0.0 {
            0.0
        } else {
            (b - a) / a * 100.0
        }
    };
    let (rss, fd, sock) = (drift(|s| s.0), drift(|s| s.1), drift(|s| s.2));
    println!("drift after warm-up: rss {rss:+.1}%  fds {fd:+.1}%  upstream sockets {sock:+.1}%");
    println!(
        "requests: {} completed, {} left early, {} failed",
        counts.ok.load(Ordering::Relaxed),
        counts.left_early.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed)
    );
    if rss > 5.0 || fd > 5.0 {
        return Err(format!("the gateway grew: rss {rss:+.1}%, fds {fd:+.1}%").into());
    }
    Ok(())
}

fn rss_kb(pid: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0))
}

fn fds(pid: u32) -> std::io::Result<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64)
}

/// Established TCP connections to `port` (from anyone: the gateway's pool here).
fn sockets(port: u16) -> std::io::Result<u64> {
    let mut n = 0;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(table) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in table.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state)) = (cols.get(2), cols.get(3)) else {
                continue;
            };
            let remote_port = remote
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if remote_port == Some(port) && *state == "01" {
                n += 1;
            }
        }
    }
    Ok(n)
}
