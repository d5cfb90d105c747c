//! The provider prefixes the gateway serves, with the environment variables LiteLLM
//! reads for each when a deployment names no `api_key`/`api_base`.

/// A provider prefix and the environment variables LiteLLM reads for it when the
/// deployment names no `api_key`/`api_base`/….
pub(crate) struct ProviderEnv {
    pub(crate) prefix: &'static str,
    /// The key's variables, first set wins.
    pub(crate) key: &'static [&'static str],
    /// The base URL's variables.
    pub(crate) base: &'static [&'static str],
    /// Whether the provider's public API refuses requests without a key.
    pub(crate) needs_key: bool,
}

/// Every prefix the gateway serves, with LiteLLM's variable names.
pub(crate) const PROVIDER_ENV: &[ProviderEnv] = &[
    env(
        "openai",
        &["OPENAI_API_KEY"],
        &["OPENAI_API_BASE", "OPENAI_BASE_URL"],
        true,
    ),
    env(
        "text-completion-openai",
        &["OPENAI_API_KEY"],
        &["OPENAI_API_BASE", "OPENAI_BASE_URL"],
        true,
    ),
    env(
        "azure",
        &["AZURE_API_KEY", "AZURE_OPENAI_API_KEY"],
        &["AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"],
        true,
    ),
    env(
        "anthropic",
        &["ANTHROPIC_API_KEY"],
        &["ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"],
        true,
    ),
    env(
        "gemini",
        &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        &["GEMINI_API_BASE"],
        true,
    ),
    env("vertex_ai", &[], &[], false),
    env("bedrock", &[], &["AWS_BEDROCK_RUNTIME_ENDPOINT"], false),
    env("sagemaker_chat", &[], &[], false),
    env("ollama", &[], &["OLLAMA_API_BASE"], false),
    // A key or a `token`: `Endpoint::validate` says which is missing.
    env(
        "watsonx",
        &["WATSONX_APIKEY", "WATSONX_API_KEY"],
        &["WATSONX_URL", "WATSONX_API_BASE"],
        false,
    ),
    env("ollama_chat", &[], &["OLLAMA_API_BASE"], false),
    env("groq", &["GROQ_API_KEY"], &["GROQ_API_BASE"], true),
    env(
        "together_ai",
        &[
            "TOGETHERAI_API_KEY",
            "TOGETHER_AI_API_KEY",
            "TOGETHER_API_KEY",
        ],
        &[],
        true,
    ),
    env("mistral", &["MISTRAL_API_KEY"], &["MISTRAL_API_BASE"], true),
    env(
        "deepseek",
        &["DEEPSEEK_API_KEY"],
        &["DEEPSEEK_API_BASE"],
        true,
    ),
    env(
        "fireworks_ai",
        &["FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY"],
        &[],
        true,
    ),
    env(
        "openrouter",
        &["OPENROUTER_API_KEY", "OR_API_KEY"],
        &["OPENROUTER_API_BASE"],
        true,
    ),
    env("xai", &["XAI_API_KEY"], &["XAI_API_BASE"], true),
    env(
        "lm_studio",
        &["LM_STUDIO_API_KEY"],
        &["LM_STUDIO_API_BASE"],
        false,
    ),
    env(
        "hosted_vllm",
        &["HOSTED_VLLM_API_KEY"],
        &["HOSTED_VLLM_API_BASE"],
        false,
    ),
    env(
        "codestral",
        &["CODESTRAL_API_KEY"],
        &["CODESTRAL_API_BASE"],
        true,
    ),
    env(
        "perplexity",
        &["PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"],
        &["PERPLEXITY_API_BASE"],
        true,
    ),
    env(
        "cohere",
        &["COHERE_API_KEY", "CO_API_KEY"],
        &["COHERE_API_BASE"],
        true,
    ),
    env(
        "cohere_chat",
        &["COHERE_API_KEY", "CO_API_KEY"],
        &["COHERE_API_BASE"],
        true,
    ),
    env(
        "nvidia_nim",
        &["NVIDIA_NIM_API_KEY"],
        &["NVIDIA_NIM_API_BASE"],
        true,
    ),
    env(
        "huggingface",
        &["HF_TOKEN", "HUGGINGFACE_API_KEY"],
        &["HUGGINGFACE_API_BASE"],
        true,
    ),
    env(
        "cerebras",
        &["CEREBRAS_API_KEY"],
        &["CEREBRAS_API_BASE"],
        true,
    ),
    env(
        "sambanova",
        &["SAMBANOVA_API_KEY"],
        &["SAMBANOVA_API_BASE"],
        true,
    ),
    env(
        "deepinfra",
        &["DEEPINFRA_API_KEY"],
        &["DEEPINFRA_API_BASE"],
        true,
    ),
    env("github", &["GITHUB_API_KEY"], &[], true),
    env(
        "dashscope",
        &["DASHSCOPE_API_KEY"],
        &["DASHSCOPE_API_BASE"],
        true,
    ),
    env(
        "moonshot",
        &["MOONSHOT_API_KEY"],
        &["MOONSHOT_API_BASE"],
        true,
    ),
    env("ai21", &["AI21_API_KEY"], &[], true),
    env("ai21_chat", &["AI21_API_KEY"], &[], true),
    env("nebius", &["NEBIUS_API_KEY"], &["NEBIUS_API_BASE"], true),
    env("novita", &["NOVITA_API_KEY"], &[], true),
    env("hyperbolic", &["HYPERBOLIC_API_KEY"], &[], true),
    env(
        "friendliai",
        &["FRIENDLI_TOKEN", "FRIENDLIAI_API_KEY"],
        &["FRIENDLI_API_BASE"],
        true,
    ),
    env("nscale", &["NSCALE_API_KEY"], &[], true),
    env("featherless_ai", &["FEATHERLESS_AI_API_KEY"], &[], true),
    env("voyage", &["VOYAGE_API_KEY"], &["VOYAGE_API_BASE"], true),
    env("jina_ai", &["JINA_AI_API_KEY"], &["JINA_AI_API_BASE"], true),
    env(
        "llamafile",
        &["LLAMAFILE_API_KEY"],
        &["LLAMAFILE_API_BASE"],
        false,
    ),
    env(
        "azure_ai",
        &["AZURE_AI_API_KEY"],
        &["AZURE_AI_API_BASE"],
        true,
    ),
    env(
        "databricks",
        &["DATABRICKS_API_KEY"],
        &["DATABRICKS_API_BASE"],
        true,
    ),
    env(
        "litellm_proxy",
        &["LITELLM_PROXY_API_KEY"],
        &["LITELLM_PROXY_API_BASE"],
        false,
    ),
    env("custom_openai", &[], &[], false),
    env("openai_compatible", &[], &[], false),
];

const fn env(
    prefix: &'static str,
    key: &'static [&'static str],
    base: &'static [&'static str],
    needs_key: bool,
) -> ProviderEnv {
    ProviderEnv {
        prefix,
        key,
        base,
        needs_key,
    }
}

/// OpenAI-compatible prefixes with no public API: the deployment names the server.
pub(crate) const NEEDS_BASE: &[&str] = &[
    "azure_ai",
    "databricks",
    "litellm_proxy",
    "custom_openai",
    "hosted_vllm",
    "openai_compatible",
];
