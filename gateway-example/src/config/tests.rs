//! The gateway's own sections: defaults, typos, ranges, every error at once.

use std::collections::HashMap;

use super::*;

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn parse(text: &str) -> Result<Config, ConfigErrors> {
    Config::parse_with_env(text, "test.yaml", &env_of(&[]))
}

const MODELS: &str = "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\n";

fn error_at(yaml: &str, key: &str) -> ConfigError {
    let errors = parse(yaml).expect_err(yaml);
    errors
        .at(key)
        .cloned()
        .unwrap_or_else(|| panic!("no error at {key}: {errors}"))
}

#[test]
fn the_demo_config_parses_with_the_layer_crates_defaults() {
    let config = Config::parse(DEMO, "<demo>").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.server.listen, DEFAULT_LISTEN);
    assert_eq!(
        (
            config.pool.max_connections,
            config.pool.max_connections_per_host
        ),
        (
            pool_layer::limit::DEFAULT_MAX_CONNECTIONS,
            pool_layer::limit::DEFAULT_MAX_CONNECTIONS_PER_HOST
        )
    );
    assert_eq!(config.pool.keepalive, pool_layer::DEFAULT_IDLE_TIMEOUT);
    assert_eq!(config.pool.dns_ttl, pool_layer::dns::DEFAULT_TTL);
    assert_eq!(
        config.pool.connect_timeout,
        pool_layer::DEFAULT_CONNECT_TIMEOUT
    );
    assert_eq!(
        config.limits.max_in_flight,
        limits_layer::admission::DEFAULT_MAX_IN_FLIGHT
    );
    assert_eq!(
        config.limits.max_queued,
        limits_layer::admission::DEFAULT_MAX_QUEUED
    );
    assert_eq!(
        config.limits.queue_timeout,
        limits_layer::admission::DEFAULT_QUEUE_TIMEOUT
    );
    assert_eq!(
        config.limits.max_callbacks,
        limits_layer::callbacks::DEFAULT_MAX_CALLBACKS
    );
    assert_eq!(
        config.limits.callback_queue,
        limits_layer::callbacks::DEFAULT_EVENT_QUEUE
    );
    assert_eq!(config.cache.client_ttl, cache_layer::ttl::DEFAULT_TTL);
    assert_eq!(
        config.cache.client_capacity,
        cache_layer::ttl::DEFAULT_CAPACITY
    );
    assert!(!config.cache.responses.enabled);
    assert_eq!(
        config.cache.responses.max_item_bytes,
        cache_layer::ttl::DEFAULT_MAX_ITEM_WEIGHT
    );
    assert_eq!(config.server.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(
        config.server.request_timeout,
        provider_adapters::DEFAULT_TIMEOUT
    );
    assert!(config.deployments.iter().all(|d| d.mock));
    assert!(config.ignored.is_empty());
}

#[test]
fn a_typo_in_a_gateway_section_names_the_key_line_and_the_near_miss() {
    let e = error_at(
        &format!("pool: {{max_connection: 5}}\n{MODELS}"),
        "pool.max_connection",
    );
    assert_eq!((e.file.as_str(), e.line), ("test.yaml", Some(1)));
    assert!(
        e.problem
            .contains("unknown field `max_connection` (did you mean `max_connections`?)"),
        "{e}"
    );
}

#[test]
fn workers_are_bounded() {
    assert_eq!(
        parse(&format!("server: {{workers: 3}}\n{MODELS}"))
            .map(|c| c.server.workers)
            .ok(),
        Some(3)
    );
    for bad in ["0", "100000"] {
        error_at(
            &format!("server: {{workers: {bad}}}\n{MODELS}"),
            "server.workers",
        );
    }
}

#[test]
fn numbers_out_of_range_are_errors_at_parse_time() {
    for (yaml, key) in [
        (
            "server: {request_timeout_s: 1e300}",
            "server.request_timeout_s",
        ),
        (
            "server: {request_timeout_s: 1e19}",
            "server.request_timeout_s",
        ),
        (
            "server: {header_read_timeout_s: .inf}",
            "server.header_read_timeout_s",
        ),
        (
            "server: {shutdown_timeout_s: .nan}",
            "server.shutdown_timeout_s",
        ),
        (
            "server: {max_client_connections: 18446744073709551615}",
            "server.max_client_connections",
        ),
        (
            "server: {max_body_bytes: 18446744073709551615}",
            "server.max_body_bytes",
        ),
        (
            "pool: {max_connections: 18446744073709551615}",
            "pool.max_connections",
        ),
        ("pool: {keepalive_s: 1e19}", "pool.keepalive_s"),
        ("limits: {max_queued: -1}", "limits.max_queued"),
        ("limits: {queue_timeout_s: 0}", "limits.queue_timeout_s"),
        ("cache: {client_capacity: 1.5}", "cache.client_capacity"),
        (
            "cache: {responses: {ttl_s: 1e300}}",
            "cache.responses.ttl_s",
        ),
    ] {
        let e = error_at(&format!("{yaml}\n{MODELS}"), key);
        assert!(e.problem.contains("must be"), "{e}");
    }
    let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a, timeout: 1e19, stream_timeout: 1e300}\n";
    error_at(yaml, "model_list[0].litellm_params.timeout");
    error_at(yaml, "model_list[0].litellm_params.stream_timeout");
}

#[test]
fn an_empty_master_key_is_an_error_naming_the_key() {
    for (yaml, key) in [
        ("server: {master_key: \"\"}", "server.master_key"),
        ("server: {master_key: }", "server.master_key"),
        (
            "general_settings: {master_key: \"\"}",
            "general_settings.master_key",
        ),
        (
            "general_settings: {master_key: os.environ/EMPTY}",
            "general_settings.master_key",
        ),
    ] {
        let errors = Config::parse_with_env(
            &format!("{yaml}\n{MODELS}"),
            "t.yaml",
            &env_of(&[("EMPTY", "")]),
        )
        .expect_err(yaml);
        let e = errors.at(key).unwrap_or_else(|| panic!("{errors}"));
        assert!(e.problem.contains("empty"), "{e}");
    }
}

#[test]
fn a_missing_environment_variable_names_the_key_and_variable() {
    let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: openai/gpt-4o, api_key: os.environ/GATEWAY_TEST_SURELY_UNSET}\n";
    let e = error_at(yaml, "model_list[0].litellm_params.api_key");
    assert_eq!(
        e.problem,
        "environment variable `GATEWAY_TEST_SURELY_UNSET` is not set"
    );
    assert_eq!(
        e.to_string(),
        "test.yaml:3: `model_list[0].litellm_params.api_key`: environment variable `GATEWAY_TEST_SURELY_UNSET` is not set"
    );
}

#[test]
fn a_near_miss_of_a_litellm_param_is_an_error() {
    let yaml = "model_list:\n  - model_name: a\n    params: {model: openai/x, api_bse: http://h}\n";
    let e = error_at(yaml, "model_list[0].litellm_params.api_bse");
    assert_eq!(
        e.problem,
        "unknown field `api_bse` (did you mean `api_base`?)"
    );
}

#[test]
fn an_api_base_with_a_query_string_is_refused() {
    let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x, api_base: \"https://h.example/v1?key=1\"}\n";
    let e = error_at(yaml, "model_list[0].litellm_params.api_base");
    assert!(e.problem.contains("query string"), "{e}");
}

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let yaml = "\
server:
  listen: nowhere
pool: {max_connections: 0}
limits:
  queue_timeout_s: -1
model_list:
  - model_name: a
    litellm_params: {model: nope/x}
  - model_name: b
    litellm_params:
      model: openai/x
      timeout: soon
      api_key: sk-x
";
    let errors = parse(yaml).expect_err("invalid");
    let got: Vec<(&str, Option<usize>)> = errors
        .errors()
        .iter()
        .map(|e| (e.key.as_str(), e.line))
        .collect();
    assert_eq!(
        got,
        [
            ("server.listen", Some(2)),
            ("pool.max_connections", Some(3)),
            ("limits.queue_timeout_s", Some(5)),
            ("model_list[0].litellm_params.model", Some(8)),
            ("model_list[1].litellm_params.timeout", Some(12)),
        ]
    );
}

#[test]
fn a_yaml_syntax_error_has_its_line() {
    let errors = parse("model_list:\n  - model_name: [unclosed\n").expect_err("invalid");
    assert!(errors.errors()[0].line.is_some(), "{errors}");
}

#[test]
fn an_empty_model_list_is_an_error() {
    error_at("model_list: []", "model_list");
}

#[test]
fn a_config_file_is_read_with_a_size_cap() {
    let errors = Config::load(std::path::Path::new("/dev/zero")).expect_err("refused");
    assert!(errors.to_string().contains("larger than"), "{errors}");
}

#[test]
fn files_that_are_not_a_config_are_errors_not_panics() {
    for text in [
        "",
        "[1, 2]",
        "just text",
        "model_list: 5",
        "model_list: [5]",
        "{model_list: [{model_name: a}]}",
        "\u{0}",
    ] {
        assert!(parse(text).is_err(), "{text:?}");
    }
}

#[test]
fn an_entry_with_several_problems_reports_each() {
    let yaml =
        "model_list:\n  - model_name: a\n    litellm_params: {model: nope/x, timeout: 1e19}\n";
    let errors = parse(yaml).expect_err("invalid");
    assert!(
        errors.at("model_list[0].litellm_params.model").is_some(),
        "{errors}"
    );
    assert!(
        errors.at("model_list[0].litellm_params.timeout").is_some(),
        "{errors}"
    );
}

#[test]
fn a_file_of_mistakes_reports_the_first_hundred_and_counts_the_rest() {
    let mut yaml = String::from("model_list:\n");
    for i in 0..300 {
        yaml.push_str(&format!(
            "  - model_name: m{i}\n    litellm_params: {{model: nope/x}}\n"
        ));
    }
    let errors = parse(&yaml).expect_err("invalid");
    assert_eq!(errors.errors().len(), MAX_REPORTED + 1);
    assert_eq!(errors.errors()[0].line, Some(3));
    let last = errors
        .errors()
        .last()
        .map(|e| e.problem.clone())
        .unwrap_or_default();
    assert_eq!(last, "200 more problems not shown; fix these first");
}

#[test]
fn a_deployments_drop_params_wins_over_litellm_settings() {
    let yaml = "litellm_settings: {drop_params: true}\nmodel_list:\n  \
        - {model_name: a, litellm_params: {model: openai/a, api_key: k}}\n  \
        - {model_name: b, litellm_params: {model: openai/b, api_key: k, drop_params: false}}\n";
    let config = parse(yaml).unwrap_or_else(|e| panic!("{e}"));
    let drops: Vec<bool> = config
        .deployments
        .iter()
        .map(|d| d.endpoint.drop_params)
        .collect();
    assert_eq!(drops, [true, false]);
    assert!(
        config.ignored_lines().is_empty(),
        "{:?}",
        config.ignored_lines()
    );
    let none =
        parse("model_list:\n  - {model_name: a, litellm_params: {model: openai/a, api_key: k}}\n")
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(!none.deployments[0].endpoint.drop_params);
}

#[test]
fn drop_params_must_be_true_or_false() {
    let yaml = "model_list:\n  - {model_name: a, litellm_params: {model: openai/a, api_key: k, drop_params: 3}}\n";
    let err = error_at(yaml, "model_list[0].litellm_params.drop_params");
    assert!(err.problem.contains("true or false"), "{}", err.problem);
}
