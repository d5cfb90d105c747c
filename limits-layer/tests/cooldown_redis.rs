//! Redis cooldowns against a real `redis-server` on loopback: a cooldown started by
//! one instance holds on the other, Redis down falls back locally within the timeout,
//! and a cooldown started during the outage still holds after Redis is back.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use limits_layer::cooldown::{CooldownPolicy, Cooldowns, RedisCooldowns, DEFAULT_COOLDOWN_PREFIX};
use limits_layer::rate::store::RedisConfig;
use redis_server::RedisServer;

/// Every call of these tests must end well within this.
const CALL_BOUND: Duration = Duration::from_secs(2);

fn cooldowns(server: &RedisServer, prefix: &str) -> RedisCooldowns {
    let mut config = RedisConfig::default();
    config.prefix = format!("{DEFAULT_COOLDOWN_PREFIX}:{prefix}");
    config.timeout = Duration::from_millis(200);
    config.probe_interval = Duration::from_millis(100);
    RedisCooldowns::new(&server.url(), config).unwrap()
}

fn key() -> Arc<str> {
    Arc::from("openai/gpt-4o-mini@0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_counted_on_two_instances_cool_the_key_on_both() {
    let server = RedisServer::start();
    let (a, b) = (cooldowns(&server, "t1"), cooldowns(&server, "t1"));
    let policy = CooldownPolicy::new(1, Duration::from_secs(30));
    assert_eq!(a.failure(&key(), policy).await, None);
    // The second failure, on the other instance, is the one over `allowed_fails`.
    assert_eq!(
        b.failure(&key(), policy).await,
        Some(Duration::from_secs(30))
    );
    let left = a.cooling(&[key()]).await;
    assert!(
        left[0].is_some_and(|d| d > Duration::from_secs(25)),
        "{left:?}"
    );
    assert_eq!(a.metrics().fallbacks, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_cooldown_on_one_instance_holds_on_the_other() {
    let server = RedisServer::start();
    let (a, b) = (cooldowns(&server, "t2"), cooldowns(&server, "t2"));
    a.cool(&key(), Duration::from_secs(7)).await;
    let left = b.cooling(&[key(), Arc::from("other")]).await;
    assert!(left[0].is_some_and(|d| d <= Duration::from_secs(7) && d > Duration::from_secs(5)));
    assert_eq!(left[1], None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_falls_back_locally_and_a_cooldown_from_the_outage_holds_after() {
    let mut server = RedisServer::start();
    let a = cooldowns(&server, "t3");
    assert_eq!(a.cooling(&[key()]).await, [None]);
    server.stop();
    let started = Instant::now();
    a.cool(&key(), Duration::from_secs(20)).await;
    assert!(
        a.cooling(&[key()]).await[0].is_some(),
        "the local fallback keeps it"
    );
    assert!(
        started.elapsed() < CALL_BOUND,
        "no call waits past the timeout"
    );
    assert!(!a.metrics().up);
    assert!(a.metrics().fallbacks >= 2);

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    let other = cooldowns(&server, "t3");
    other
        .cool(&Arc::from("shared"), Duration::from_secs(9))
        .await;
    // Back: shared again (the other instance's cooldown is seen) and the outage's
    // local cooldown still holds.
    loop {
        let left = a.cooling(&[key(), Arc::from("shared")]).await;
        if left[1].is_some() {
            assert!(left[0].is_some());
            break;
        }
        assert!(Instant::now() < deadline, "redis back was never used again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(a.metrics().up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_costs_a_check_at_most_the_timeout() {
    let server = RedisServer::start();
    let a = cooldowns(&server, "t4");
    assert_eq!(a.cooling(&[key()]).await, [None]);
    server.freeze(true);
    let started = Instant::now();
    assert_eq!(a.cooling(&[key()]).await, [None]);
    assert!(started.elapsed() < CALL_BOUND);
    server.freeze(false);
}
