//! The router's LiteLLM settings: fallbacks in LiteLLM's shapes, cooldowns, retry
//! waits, per-deployment limits and the Redis address are read; a typo or a fallback
//! to a model that is not served is an error naming the key.
#![allow(clippy::unwrap_used)] // test setup: a panic is the failure report

use std::time::Duration;

use gateway_example::config::{Config, ConfigErrors, Fallback};

fn parse(yaml: &str) -> Result<Config, ConfigErrors> {
    Config::parse_with_env(yaml, "config.yaml", &|_| None)
}

const MODELS: &str = "model_list:
  - model_name: gpt
    litellm_params: {model: mock/gpt, rpm: 60, tpm: 1000, weight: 2, order: 1, max_parallel_requests: 5}
  - model_name: claude
    rpm: 30
    tpm: 500
    litellm_params: {model: mock/claude}
  - model_name: big
    litellm_params: {model: mock/big}
";

#[test]
fn fallbacks_cooldowns_and_retry_waits_are_read_in_litellms_shapes() {
    let yaml = format!(
        "{MODELS}router_settings:
  fallbacks: [{{gpt: [claude, big]}}]
  context_window_fallbacks: [{{gpt: [big]}}, {{claude: [big]}}]
  allowed_fails: 1
  cooldown_time: 30
  retry_after: 2
litellm_settings:
  content_policy_fallbacks: [{{claude: [gpt]}}]
  default_fallbacks: [big]
"
    );
    let config = parse(&yaml).unwrap_or_else(|e| panic!("{e}"));
    let r = &config.router;
    assert_eq!(
        r.fallbacks,
        [Fallback {
            model: "gpt".into(),
            to: vec!["claude".into(), "big".into()]
        }]
    );
    assert_eq!(r.context_window_fallbacks.len(), 2);
    assert_eq!(r.content_policy_fallbacks[0].to, ["gpt"]);
    assert_eq!(r.default_fallbacks, ["big"]);
    assert_eq!(r.allowed_fails, 1);
    assert_eq!(r.cooldown_time, Duration::from_secs(30));
    assert_eq!(r.retry_after, Duration::from_secs(2));
    assert!(config.ignored.is_empty(), "{:?}", config.ignored);
}

#[test]
fn deployment_limits_are_read_from_litellm_params_or_the_entry() {
    let config = parse(MODELS).unwrap_or_else(|e| panic!("{e}"));
    let gpt = config.deployments[0].routing;
    assert_eq!((gpt.rpm, gpt.tpm), (Some(60), Some(1000)));
    assert_eq!((gpt.weight, gpt.order), (2, 1));
    assert_eq!(gpt.max_parallel_requests, Some(5));
    let claude = config.deployments[1].routing;
    assert_eq!(
        (claude.rpm, claude.tpm, claude.weight),
        (Some(30), Some(500), 1)
    );
}

#[test]
fn a_typo_in_a_router_key_is_an_error_naming_it() {
    let err = parse(&format!("{MODELS}router_settings: {{cooldwn_time: 5}}\n")).unwrap_err();
    let e = err.at("router_settings.cooldwn_time").unwrap();
    assert!(e.problem.contains("cooldown_time"), "{e}");
    let err = parse(&format!("{MODELS}litellm_settings: {{fallback: []}}\n")).unwrap_err();
    assert!(err.at("litellm_settings.fallback").is_some(), "{err}");
}

#[test]
fn a_fallback_to_a_model_not_served_is_an_error_naming_the_key() {
    let err = parse(&format!(
        "{MODELS}router_settings: {{fallbacks: [{{gpt: [gtp-4]}}]}}\n"
    ))
    .unwrap_err();
    let e = err.at("router_settings.fallbacks.gpt").unwrap();
    assert!(e.problem.contains("gtp-4"), "{e}");
}

#[test]
fn redis_is_addressed_by_url_or_host_port_and_password() {
    let config = parse(&format!(
        "{MODELS}router_settings: {{redis_host: 127.0.0.1, redis_port: 6390, redis_password: pw}}\n"
    ))
    .unwrap();
    assert_eq!(
        config.router.redis.as_ref().map(|s| s.expose()),
        Some("redis://:pw@127.0.0.1:6390")
    );
    let config = parse(&format!(
        "{MODELS}router_settings: {{redis_url: \"redis://127.0.0.1:7000/2\"}}\n"
    ))
    .unwrap();
    assert_eq!(
        config.router.redis.as_ref().map(|s| s.expose()),
        Some("redis://127.0.0.1:7000/2")
    );
    let err = parse(&format!(
        "{MODELS}router_settings: {{redis_url: \"http://x\"}}\n"
    ))
    .unwrap_err();
    assert!(err.at("router_settings.redis_url").is_some());
}

#[test]
fn a_redis_response_cache_is_read_from_cache_params() {
    let config = parse(&format!(
        "{MODELS}litellm_settings:\n  cache: true\n  cache_params: {{type: redis, host: 127.0.0.1, port: 6391, ttl: 60, namespace: gw}}\n"
    ))
    .unwrap();
    let cache = config.router.redis_cache.as_ref().unwrap();
    assert_eq!(cache.ttl, Some(Duration::from_secs(60)));
    assert_eq!(cache.namespace.as_deref(), Some("gw"));
    assert_eq!(
        config.router.redis.as_ref().map(|s| s.expose()),
        Some("redis://127.0.0.1:6391")
    );
}
