//! The loop against scripted deployments: retries, cooldowns, fallbacks, limits.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use http::HeaderValue;

use super::serve::Routed;
use super::*;
use crate::config::{Fallback, MAX_RETRY_WAIT};

/// A scripted deployment: answers its queued results in turn, then `Ok`.
#[derive(Debug)]
struct Fake {
    member: Member,
    script: Mutex<VecDeque<Result<(), ProviderError>>>,
    calls: AtomicUsize,
}

use std::collections::VecDeque;

impl HasMember for Fake {
    fn member(&self) -> &Member {
        &self.member
    }
}

struct FakeGroup {
    name: Arc<str>,
    deployments: Vec<Arc<Fake>>,
    retries: u32,
    next: AtomicUsize,
}

impl Group for &FakeGroup {
    type Deployment = Fake;
    fn name(&self) -> &Arc<str> {
        &self.name
    }
    fn deployments(&self) -> &[Arc<Fake>] {
        &self.deployments
    }
    fn deployment(&self, i: usize) -> Arc<Fake> {
        self.deployments[i].clone()
    }
    fn max_retries(&self) -> u32 {
        self.retries
    }
    fn turn(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

fn group(name: &str, scripts: Vec<Vec<Result<(), ProviderError>>>, retries: u32) -> FakeGroup {
    group_with(name, scripts, retries, DeploymentRouting::default())
}

fn group_with(
    name: &str,
    scripts: Vec<Vec<Result<(), ProviderError>>>,
    retries: u32,
    routing: DeploymentRouting,
) -> FakeGroup {
    FakeGroup {
        name: Arc::from(name),
        deployments: scripts
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                Arc::new(Fake {
                    member: Member::new(format!("{name}@{i}").into(), routing),
                    script: Mutex::new(s.into()),
                    calls: AtomicUsize::new(0),
                })
            })
            .collect(),
        retries,
        next: AtomicUsize::new(0),
    }
}

fn router(config: RouterConfig) -> Router {
    Router {
        policy: CooldownPolicy::new(config.allowed_fails, config.cooldown_time),
        config,
        strategy: Strategy::RoundRobin,
        cooldowns: Arc::new(MemoryCooldowns::new()),
        limits: Arc::new(MemoryStore::new()),
        metrics: RouterMetrics::default(),
        redis: None,
    }
}

fn upstream(status: u16, body: &str, retry_after: Option<&'static str>) -> ProviderError {
    ProviderError::from_upstream(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        body.as_bytes(),
        retry_after.map(HeaderValue::from_static),
        None,
    )
}

fn server_error() -> ProviderError {
    upstream(500, r#"{"error":{"message":"boom"}}"#, None)
}

async fn run(router: &Router, groups: &[&FakeGroup], model: &str) -> Routed<Arc<str>> {
    let by_name: HashMap<&str, &FakeGroup> = groups.iter().map(|g| (&*g.name, *g)).collect();
    router
        .serve(
            model,
            10,
            |name| {
                by_name
                    .get(name)
                    .copied()
                    .ok_or_else(|| ProviderError::bad_request(format!("no {name}")))
            },
            |d: Arc<Fake>| async move {
                d.calls.fetch_add(1, Ordering::Relaxed);
                let next = d
                    .script
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pop_front();
                next.unwrap_or(Ok(())).map(|()| d.member.key.clone())
            },
        )
        .await
}

use http::StatusCode;
use provider_adapters::ProviderError;

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_is_retried_on_the_other_deployment() {
    let r = router(RouterConfig::default());
    let g = group("gpt", vec![vec![Err(server_error())], vec![]], 2);
    let routed = run(&r, &[&g], "gpt").await;
    assert_eq!(routed.result.ok().as_deref(), Some("gpt@1"));
    assert_eq!(g.deployments[0].calls.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn spent_retries_go_to_the_fallback_group_which_is_named() {
    let r = router(RouterConfig {
        fallbacks: vec![Fallback {
            model: "gpt".into(),
            to: vec!["claude".into()],
        }],
        ..RouterConfig::default()
    });
    let g = group("gpt", vec![vec![Err(server_error()); 3]], 1);
    let c = group("claude", vec![vec![]], 0);
    let routed = run(&r, &[&g, &c], "gpt").await;
    assert_eq!(routed.result.ok().as_deref(), Some("claude@0"));
    assert_eq!(&*routed.group, "claude");
    assert_eq!(
        g.deployments[0].calls.load(Ordering::Relaxed),
        2,
        "1 + 1 retry"
    );
    assert_eq!(r.metrics.fallbacks.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_context_window_error_falls_back_at_once_without_retries() {
    let r = router(RouterConfig {
        context_window_fallbacks: vec![Fallback {
            model: "small".into(),
            to: vec!["large".into()],
        }],
        ..RouterConfig::default()
    });
    let too_long = upstream(
        400,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 300000 tokens > 200000 maximum"}}"#,
        None,
    );
    let small = group("small", vec![vec![Err(too_long)], vec![]], 3);
    let large = group("large", vec![vec![]], 0);
    let routed = run(&r, &[&small, &large], "small").await;
    assert_eq!(routed.result.ok().as_deref(), Some("large@0"));
    let calls: usize = small
        .deployments
        .iter()
        .map(|d| d.calls.load(Ordering::Relaxed))
        .sum();
    assert_eq!(calls, 1, "never retried on the same model");
}

#[tokio::test(start_paused = true)]
async fn a_bad_request_is_answered_without_retry_or_fallback() {
    let r = router(RouterConfig {
        default_fallbacks: vec!["other".into()],
        ..RouterConfig::default()
    });
    let g = group(
        "gpt",
        vec![vec![Err(upstream(
            400,
            r#"{"error":{"message":"bad"}}"#,
            None,
        ))]],
        3,
    );
    let o = group("other", vec![vec![]], 0);
    let routed = run(&r, &[&g, &o], "gpt").await;
    assert_eq!(
        routed.result.err().map(|e| e.status()),
        Some(StatusCode::BAD_REQUEST)
    );
    assert_eq!(o.deployments[0].calls.load(Ordering::Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn failures_over_allowed_fails_cool_the_deployment_then_it_returns() {
    let r = router(RouterConfig {
        allowed_fails: 1,
        cooldown_time: Duration::from_secs(30),
        ..RouterConfig::default()
    });
    let g = group(
        "gpt",
        vec![vec![Err(server_error()), Err(server_error())], vec![]],
        0,
    );
    // Two failures of deployment 0 (the turns alternate): the second cools it.
    for _ in 0..4 {
        let _ = run(&r, &[&g], "gpt").await;
    }
    assert_eq!(r.metrics.cooldowns.load(Ordering::Relaxed), 1);
    let before = g.deployments[0].calls.load(Ordering::Relaxed);
    for _ in 0..4 {
        assert_eq!(
            run(&r, &[&g], "gpt").await.result.ok().as_deref(),
            Some("gpt@1")
        );
    }
    assert_eq!(
        g.deployments[0].calls.load(Ordering::Relaxed),
        before,
        "out of rotation"
    );
    tokio::time::advance(Duration::from_secs(31)).await;
    for _ in 0..2 {
        let _ = run(&r, &[&g], "gpt").await;
    }
    assert!(
        g.deployments[0].calls.load(Ordering::Relaxed) > before,
        "back in rotation"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_cools_it_so_long_and_all_cooling_answers_at_once() {
    let r = router(RouterConfig::default());
    let limited = upstream(429, r#"{"error":{"message":"slow down"}}"#, Some("20"));
    let g = group("gpt", vec![vec![Err(limited)]], 2);
    let started = Instant::now();
    let routed = run(&r, &[&g], "gpt").await;
    let err = routed.result.err();
    assert_eq!(
        err.as_ref().map(|e| e.status()),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(
        err.as_ref()
            .and_then(|e| e.retry_after())
            .and_then(|v| v.to_str().ok()),
        Some("20")
    );
    assert!(
        started.elapsed() < MAX_RETRY_WAIT,
        "answered without waiting the 20 s"
    );
    assert_eq!(
        g.deployments[0].calls.load(Ordering::Relaxed),
        1,
        "not hammered"
    );
}

#[tokio::test(start_paused = true)]
async fn a_deployment_at_its_rpm_is_skipped_and_all_at_limit_is_a_429() {
    let r = router(RouterConfig::default());
    let one = DeploymentRouting {
        rpm: Some(1),
        ..DeploymentRouting::default()
    };
    let g = group_with("gpt", vec![vec![], vec![]], 0, one);
    let mut answered: Vec<String> = Vec::new();
    for _ in 0..2 {
        answered.push(
            run(&r, &[&g], "gpt")
                .await
                .result
                .map(|k| k.to_string())
                .unwrap_or_default(),
        );
    }
    answered.sort();
    assert_eq!(answered, ["gpt@0", "gpt@1"]);
    let err = run(&r, &[&g], "gpt").await.result.err();
    assert_eq!(
        err.as_ref().map(|e| e.status()),
        Some(StatusCode::TOO_MANY_REQUESTS)
    );
    let after: u64 = err
        .as_ref()
        .and_then(|e| e.retry_after())
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1..=60).contains(&after), "{after}");
}

fn tpm(tokens: u64) -> DeploymentRouting {
    DeploymentRouting {
        tpm: Some(tokens),
        ..DeploymentRouting::default()
    }
}

fn used(prompt_tokens: u64, completion_tokens: u64) -> limits_layer::callbacks::Usage {
    limits_layer::callbacks::Usage {
        prompt_tokens,
        completion_tokens,
        ..Default::default()
    }
}

fn status(routed: Routed<Arc<str>>) -> Option<StatusCode> {
    routed.result.err().map(|e| e.status())
}

// `run` reserves 10 tokens a request: under `tpm: 15` a second one fits only once the
// first was settled below 5.

#[tokio::test(start_paused = true)]
async fn a_tpm_reservation_is_settled_with_the_usage_of_a_whole_answer() {
    let r = router(RouterConfig::default());
    let g = group_with("gpt", vec![vec![]], 0, tpm(15));
    let first = run(&r, &[&g], "gpt").await;
    let mut extensions = http::Extensions::new();
    extensions.insert(used(2, 1));
    let held = first.reservation.and_then(|res| settle(res, &extensions));
    assert!(held.is_none(), "a whole answer settles at once");
    let second = run(&r, &[&g], "gpt").await;
    assert!(second.result.is_ok(), "3 used and 10 reserved fit in 15");
    // Never settled: its 10 stand, and a third does not fit.
    drop(second.reservation);
    let third = run(&r, &[&g], "gpt").await;
    assert_eq!(status(third), Some(StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test(start_paused = true)]
async fn a_streams_reservation_is_settled_when_its_body_is_dropped() {
    let r = router(RouterConfig::default());
    let g = group_with("gpt", vec![vec![]], 0, tpm(15));
    let first = run(&r, &[&g], "gpt").await;
    let cell = limits_layer::callbacks::UsageCell::default();
    let mut extensions = http::Extensions::new();
    extensions.insert(cell.clone());
    let held = first.reservation.and_then(|res| settle(res, &extensions));
    assert!(held.is_some(), "a stream's usage comes at its end");
    cell.set(used(1, 1));
    drop(held);
    let second = run(&r, &[&g], "gpt").await;
    assert!(second.result.is_ok(), "2 used and 10 reserved fit in 15");
}

#[tokio::test(start_paused = true)]
async fn a_request_the_provider_refused_gives_its_tokens_back() {
    let r = router(RouterConfig::default());
    let refusal = upstream(400, r#"{"error":{"message":"bad"}}"#, None);
    let g = group_with("gpt", vec![vec![Err(refusal)]], 0, tpm(15));
    let refused = run(&r, &[&g], "gpt").await;
    assert_eq!(status(refused), Some(StatusCode::BAD_REQUEST));
    let next = run(&r, &[&g], "gpt").await;
    assert!(
        next.result.is_ok(),
        "the refused request's 10 were released"
    );
}
