//! LiteLLM-shaped configs (written from LiteLLM's documentation, in `tests/litellm/`):
//! each is accepted, serves what LiteLLM would, and lists what it ignores.
#![allow(clippy::unwrap_used)] // test setup: a panic is the failure report

use std::collections::HashMap;

use gateway_example::config::{Config, ConfigErrors, Strategy};
use provider_adapters::Provider;

/// A fixed environment, so tests never see (or race on) the process's.
fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/litellm")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn parse(name: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    Config::parse_with_env(&fixture(name), name, &env(vars))
}

fn ok(name: &str, vars: &[(&str, &str)]) -> Config {
    parse(name, vars).unwrap_or_else(|e| panic!("{e}"))
}

fn deployment<'c>(config: &'c Config, name: &str) -> &'c gateway_example::config::Deployment {
    config
        .deployments
        .iter()
        .find(|d| d.model_name == name)
        .unwrap_or_else(|| panic!("{name} not served"))
}

#[test]
fn the_quickstart_config_serves_its_models_and_lists_what_it_ignores() {
    let config = ok(
        "quickstart.yaml",
        &[("AZURE_API_KEY_EU", "k-eu"), ("AZURE_API_KEY_CA", "k-ca")],
    );
    assert_eq!(config.served(), ["gpt-4o", "vllm-models", "*"]);
    let gpt: Vec<_> = config
        .deployments
        .iter()
        .filter(|d| d.model_name == "gpt-4o")
        .collect();
    assert_eq!(
        gpt.len(),
        2,
        "two Azure deployments load-balanced under one name"
    );
    assert!(gpt.iter().all(|d| d.endpoint.provider == Provider::Azure));
    assert_eq!(
        gpt[0].endpoint.api_key.as_ref().map(|k| k.expose()),
        Some("k-eu")
    );
    let vllm = deployment(&config, "vllm-models");
    assert_eq!(
        (vllm.endpoint.provider, vllm.endpoint.model.as_str()),
        (Provider::OpenAi, "facebook/opt-125m")
    );
    assert_eq!(
        config.server.master_key.as_ref().map(|k| k.expose()),
        Some("sk-1234")
    );
    assert_eq!(
        config.ignored_lines(),
        [
            "general_settings: alerting",
            "litellm_settings: success_callback",
            "model_list[].model_info: version",
        ]
    );
    assert!(config
        .summary("quickstart.yaml")
        .contains("ok: 3 deployments of 2 models, 1 wildcard routes"));
}

#[test]
fn un_prefixed_models_get_the_provider_litellm_infers_and_its_key_from_the_environment() {
    let vars = [
        ("OPENAI_API_KEY", "sk-openai"),
        ("ANTHROPIC_API_KEY", "sk-ant"),
        ("GEMINI_API_KEY", "gm-key"),
    ];
    let config = ok("inference.yaml", &vars);
    for (name, provider, model, key) in [
        ("gpt-4o", Provider::OpenAi, "gpt-4o", Some("sk-openai")),
        ("o3-mini", Provider::OpenAi, "o3-mini", Some("sk-openai")),
        (
            "claude",
            Provider::Anthropic,
            "claude-3-7-sonnet-latest",
            Some("sk-ant"),
        ),
        ("gemini", Provider::Gemini, "gemini-1.5-pro", Some("gm-key")),
        ("local", Provider::Ollama, "my-model", None),
        (
            "gemini-2-flash",
            Provider::VertexAi,
            "gemini-2.0-flash",
            None,
        ),
    ] {
        let d = deployment(&config, name);
        assert_eq!(
            (d.endpoint.provider, d.endpoint.model.as_str()),
            (provider, model),
            "{name}"
        );
        assert_eq!(
            d.endpoint.api_key.as_ref().map(|k| k.expose()),
            key,
            "{name}"
        );
    }
    assert!(config.ignored.is_empty(), "{:?}", config.ignored_lines());
}

#[test]
fn a_provider_without_its_key_is_a_check_config_error_naming_the_variable() {
    let errors = parse("inference.yaml", &[("OPENAI_API_KEY", "sk-openai")]).unwrap_err();
    let claude = errors.at("model_list[2].litellm_params.model").unwrap();
    assert!(claude.problem.contains("ANTHROPIC_API_KEY"), "{claude}");
    assert_eq!(claude.line, Some(12));
    let gemini = errors.at("model_list[3].litellm_params.model").unwrap();
    assert!(gemini.problem.contains("GEMINI_API_KEY"), "{gemini}");
    assert_eq!(errors.errors().len(), 2, "{errors}");
}

#[test]
fn wildcard_routes_serve_the_names_they_match() {
    let vars = [
        ("ANTHROPIC_API_KEY", "sk-ant"),
        ("GROQ_API_KEY", "gsk"),
        ("OPENAI_API_KEY", "sk-oa"),
    ];
    let config = ok("wildcards.yaml", &vars);
    assert_eq!(config.wildcards.len(), 5);
    assert_eq!(
        config.served(),
        [
            "gpt-4o",
            "anthropic/*",
            "groq/*",
            "fo::*:static::*",
            "claude-proxy/*",
            "*"
        ]
    );
    let route = |pattern: &str| {
        config
            .wildcards
            .iter()
            .find(|w| w.pattern == pattern)
            .unwrap()
    };
    let serve = |pattern: &str, name: &str| {
        route(pattern)
            .endpoint_for(name)
            .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
    };

    let claude = serve("anthropic/*", "anthropic/claude-3-sonnet-20240229").unwrap();
    assert_eq!(
        (claude.provider, claude.model.as_str()),
        (Provider::Anthropic, "claude-3-sonnet-20240229")
    );
    assert!(serve("anthropic/*", "openai/gpt-4o").is_none());
    let groq = serve("groq/*", "groq/llama3-8b-8192").unwrap();
    assert_eq!(
        (groq.provider, groq.model.as_str()),
        (Provider::OpenAi, "llama3-8b-8192")
    );
    let fo = serve("fo::*:static::*", "fo::hi:static::hi").unwrap();
    assert_eq!(fo.model, "fo::hi:static::hi");
    // `claude-proxy/*` → `openai/*`: an OpenAI-compatible server answers for the name.
    let proxied = serve("claude-proxy/*", "claude-proxy/claude-3-haiku").unwrap();
    assert_eq!(
        (proxied.provider, proxied.model.as_str()),
        (Provider::OpenAi, "claude-3-haiku")
    );
    // `*` → `*`: the provider is inferred per name, with the environment's keys.
    let any = serve("*", "claude-3-haiku-20240307").unwrap();
    assert_eq!(
        (any.provider, any.api_key.as_ref().map(|k| k.expose())),
        (Provider::Anthropic, Some("sk-ant"))
    );
    let gpt = serve("*", "openai/gpt-4.1").unwrap();
    assert_eq!(
        (gpt.provider, gpt.model.as_str()),
        (Provider::OpenAi, "gpt-4.1")
    );
    let unknown = route("*").endpoint_for("llama3.1").unwrap().unwrap_err();
    assert!(unknown.contains("ollama/llama3.1"), "{unknown}");
    let no_key = route("*")
        .endpoint_for("gemini-2.0-flash")
        .unwrap()
        .unwrap_err();
    assert!(no_key.contains("GEMINI_API_KEY"), "{no_key}");
}

#[test]
fn provider_defaults_come_from_the_environment_as_in_litellm() {
    let vars = [
        ("AZURE_API_KEY", "az-key"),
        ("AZURE_API_BASE", "https://res.openai.azure.com"),
        ("AZURE_API_VERSION", "2024-10-21"),
        ("VERTEXAI_PROJECT", "env-project"),
        ("VERTEXAI_LOCATION", "us-east5"),
    ];
    let config = ok("env_defaults.yaml", &vars);
    let azure = &deployment(&config, "azure-gpt").endpoint;
    assert_eq!(
        azure.api_base.as_deref(),
        Some("https://res.openai.azure.com")
    );
    assert_eq!(azure.api_key.as_ref().map(|k| k.expose()), Some("az-key"));
    assert_eq!(azure.api_version.as_deref(), Some("2024-10-21"));
    let vertex = &deployment(&config, "vertex-gemini").endpoint;
    assert_eq!(
        (
            vertex.vertex_project.as_deref(),
            vertex.vertex_location.as_deref()
        ),
        (Some("env-project"), Some("us-east5"))
    );
    let aliased = &deployment(&config, "vertex-aliased").endpoint;
    assert_eq!(
        (
            aliased.vertex_project.as_deref(),
            aliased.vertex_location.as_deref()
        ),
        (Some("aliased-project"), Some("europe-west4"))
    );
    // `environment_variables` fill in what the environment lacks.
    let claude = &deployment(&config, "claude").endpoint;
    assert_eq!(
        claude.api_key.as_ref().map(|k| k.expose()),
        Some("sk-ant-from-config")
    );

    let errors = parse("env_defaults.yaml", &[]).unwrap_err();
    let azure = errors.at("model_list[0].litellm_params.model").unwrap();
    assert!(azure.problem.contains("AZURE_API_KEY"), "{azure}");
    let vertex = errors.at("model_list[1].litellm_params.model").unwrap();
    assert!(vertex.problem.contains("VERTEXAI_PROJECT"), "{vertex}");
}

#[test]
fn entry_level_rpm_and_tpm_are_used_and_model_info_is_used() {
    let config = ok("entry_keys.yaml", &[]);
    let info = &deployment(&config, "gpt-4o").info;
    assert_eq!(info.id.as_deref(), Some("my-unique-id"));
    assert_eq!(info.mode.as_deref(), Some("chat"));
    assert_eq!(info.base_model.as_deref(), Some("azure/gpt-4o"));
    assert_eq!(
        (info.max_tokens, info.max_input_tokens),
        (Some(16384), Some(128000))
    );
    assert_eq!(
        (info.input_cost_per_token, info.output_cost_per_token),
        (Some(0.0000025), Some(0.00001))
    );
    assert_eq!(
        deployment(&config, "embed").info.mode.as_deref(),
        Some("embedding")
    );
    assert_eq!(
        config.ignored_lines(),
        ["model_list[].model_info: access_groups, supports_vision, version",]
    );
}

#[test]
fn unknown_litellm_sections_are_listed_and_the_used_settings_applied() {
    let config = ok("sections.yaml", &[("LITELLM_MASTER_KEY", "sk-master")]);
    assert_eq!(
        config.server.master_key.as_ref().map(|k| k.expose()),
        Some("sk-master")
    );
    assert_eq!(config.strategy, Strategy::RoundRobin);
    let d = deployment(&config, "gpt-4o");
    assert_eq!(d.max_retries, 3, "litellm_settings.num_retries");
    assert_eq!(
        d.endpoint.timeout.as_secs(),
        30,
        "router_settings.timeout after litellm_settings.request_timeout"
    );
    assert_eq!(
        d.endpoint.api_key.as_ref().map(|k| k.expose()),
        Some("sk-from-environment-variables")
    );
    assert_eq!(
        config.ignored_lines(),
        [
            "(top level): files_settings, finetune_settings, guardrails, mcp_servers, search_tools, vector_store_registry",
            "general_settings: database_url, store_model_in_db",
            "litellm_settings: set_verbose",
        ]
    );
    assert_eq!(config.ignored.len(), 9);
    assert_eq!(
        config.router.redis.as_ref().map(|s| s.expose()),
        Some("redis://localhost:6379"),
        "router_settings.redis_host and redis_port"
    );
    assert!(
        config.router.redis_cache.is_some(),
        "cache_params.type: redis"
    );
}

#[test]
fn a_migration_gets_every_error_in_one_round_with_lines_and_hints() {
    let errors = parse("errors.yaml", &[]).unwrap_err();
    let lines: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 5, "{errors}");
    let claude = errors.at("model_list[0].litellm_params.model").unwrap();
    assert_eq!(claude.line, Some(5));
    assert!(claude.problem.contains("ANTHROPIC_API_KEY"), "{claude}");
    let unknown = errors.at("model_list[1].litellm_params.model").unwrap();
    assert!(
        unknown.problem.contains("unknown provider `replicate`")
            && unknown.problem.contains("bedrock")
            && unknown
                .problem
                .contains("`openai_compatible/MODEL` with `api_base`"),
        "{unknown}"
    );
    let llama = errors.at("model_list[2].litellm_params.model").unwrap();
    assert!(
        llama.problem.contains("ollama/llama3.1-8b") && !llama.problem.contains("openai/"),
        "{llama}"
    );
    let typo = errors.at("model_list[3].litellm_params.api_bse").unwrap();
    assert_eq!(typo.line, Some(16));
    let key = errors.at("general_settings.master_key").unwrap();
    assert!(key.problem.contains("empty"), "{key}");
    assert!(
        lines.iter().all(|l| l.starts_with("errors.yaml:")),
        "{lines:?}"
    );
}

#[test]
fn hints_for_claude_and_gemini_names_never_suggest_openai() {
    let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: us.anthropic.claude-3-5-sonnet-v2}\n  - model_name: b\n    litellm_params: {model: google-gemini-pro}\n";
    let errors = Config::parse_with_env(yaml, "t.yaml", &env(&[])).unwrap_err();
    assert_eq!(errors.errors().len(), 2);
    assert!(
        errors.errors()[0]
            .problem
            .contains("anthropic/us.anthropic.claude"),
        "{errors}"
    );
    assert!(
        errors.errors()[1]
            .problem
            .contains("gemini/google-gemini-pro"),
        "{errors}"
    );
    assert!(!errors.to_string().contains("openai/"), "{errors}");
}

#[test]
fn model_group_aliases_name_served_models_and_hidden_ones_are_not_listed() {
    let config = ok("aliases.yaml", &[]);
    let aliases: Vec<(&str, &str, bool)> = config
        .aliases
        .iter()
        .map(|a| (a.alias.as_str(), a.model.as_str(), a.hidden))
        .collect();
    assert_eq!(
        aliases,
        [
            ("gpt-4", "gpt-3.5-turbo", false),
            ("GPT-3.5-turbo", "gpt-3.5-turbo", true)
        ]
    );
    assert_eq!(config.served(), ["gpt-3.5-turbo", "gpt-4"]);
    assert!(config.ignored.is_empty());

    let yaml = "model_list:\n  - model_name: a\n    litellm_params: {model: mock/a}\nrouter_settings:\n  model_group_alias: {b: nope}\n";
    let errors = Config::parse_with_env(yaml, "t.yaml", &env(&[])).unwrap_err();
    let e = errors.at("router_settings.model_group_alias.b").unwrap();
    assert!(e.problem.contains("`nope`"), "{e}");
}
