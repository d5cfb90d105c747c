//! The OpenAI-compatible long tail: providers that speak OpenAI's chat and embeddings
//! APIs with a bearer key, known by their LiteLLM prefix. Each is one row: its public
//! base URL (empty: the deployment must give `api_base`) and its quirk, if any. They
//! are served by the OpenAI adapter (`openai.rs`), passed through untranslated.

/// One OpenAI-compatible provider.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compatible {
    /// The LiteLLM prefix (`perplexity` in `perplexity/sonar`).
    pub(crate) prefix: &'static str,
    /// The public base URL, ending in the API version; empty when there is none.
    pub(crate) base: &'static str,
}

const fn row(prefix: &'static str, base: &'static str) -> Compatible {
    Compatible { prefix, base }
}

/// Every OpenAI-compatible prefix, in the README's order.
pub(crate) const COMPATIBLE: &[Compatible] = &[
    row("groq", "https://api.groq.com/openai/v1"),
    row("together_ai", "https://api.together.xyz/v1"),
    row("mistral", "https://api.mistral.ai/v1"),
    row("codestral", "https://codestral.mistral.ai/v1"),
    row("deepseek", "https://api.deepseek.com/v1"),
    row("fireworks_ai", "https://api.fireworks.ai/inference/v1"),
    row("openrouter", "https://openrouter.ai/api/v1"),
    row("xai", "https://api.x.ai/v1"),
    row("perplexity", "https://api.perplexity.ai"),
    // Cohere's Compatibility API (chat completions and embeddings).
    row("cohere", "https://api.cohere.ai/compatibility/v1"),
    row("cohere_chat", "https://api.cohere.ai/compatibility/v1"),
    row("nvidia_nim", "https://integrate.api.nvidia.com/v1"),
    // Hugging Face's router (Inference Providers).
    row("huggingface", "https://router.huggingface.co/v1"),
    row("cerebras", "https://api.cerebras.ai/v1"),
    row("sambanova", "https://api.sambanova.ai/v1"),
    row("deepinfra", "https://api.deepinfra.com/v1/openai"),
    row("github", "https://models.inference.ai.azure.com"),
    row(
        "dashscope",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
    ),
    row("moonshot", "https://api.moonshot.ai/v1"),
    row("ai21", "https://api.ai21.com/studio/v1"),
    row("ai21_chat", "https://api.ai21.com/studio/v1"),
    row("nebius", "https://api.studio.nebius.ai/v1"),
    row("novita", "https://api.novita.ai/v3/openai"),
    row("hyperbolic", "https://api.hyperbolic.xyz/v1"),
    row("friendliai", "https://api.friendli.ai/serverless/v1"),
    row("nscale", "https://inference.api.nscale.com/v1"),
    row("featherless_ai", "https://api.featherless.ai/v1"),
    row("voyage", "https://api.voyageai.com/v1"),
    row("jina_ai", "https://api.jina.ai/v1"),
    row("lm_studio", "http://localhost:1234/v1"),
    row("llamafile", "http://127.0.0.1:8080/v1"),
    // Base URL from the deployment: Azure AI Foundry / serverless endpoints,
    // Databricks serving endpoints (`https://WORKSPACE/serving-endpoints`), another
    // LiteLLM proxy, any self-hosted server.
    row("azure_ai", ""),
    row("databricks", ""),
    row("litellm_proxy", ""),
    row("custom_openai", ""),
    row("hosted_vllm", ""),
    row("openai_compatible", ""),
];

/// The row of `prefix`, if it is an OpenAI-compatible one.
pub(crate) fn find(prefix: &str) -> Option<&'static Compatible> {
    COMPATIBLE.iter().find(|c| c.prefix == prefix)
}

/// The upstream model name for `name` under `prefix` (LiteLLM's spellings):
/// `huggingface/PROVIDER/ORG/MODEL` is the router's `ORG/MODEL:PROVIDER`.
pub(crate) fn model(prefix: &str, name: &str) -> String {
    if prefix == "huggingface" {
        if let Some((provider, model)) = name.split_once('/') {
            if model.contains('/') && !provider.is_empty() {
                return format!("{model}:{provider}");
            }
        }
    }
    name.to_string()
}

/// Every prefix, comma-separated (for error messages).
pub(crate) fn prefixes() -> String {
    COMPATIBLE
        .iter()
        .map(|c| c.prefix)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hugging_face_provider_route_becomes_the_routers_suffix() {
        assert_eq!(
            model("huggingface", "together/deepseek-ai/DeepSeek-R1"),
            "deepseek-ai/DeepSeek-R1:together"
        );
        assert_eq!(
            model("huggingface", "meta-llama/Llama-3.1-8B-Instruct"),
            "meta-llama/Llama-3.1-8B-Instruct"
        );
    }

    #[test]
    fn prefixes_are_unique() {
        let mut all: Vec<_> = COMPATIBLE.iter().map(|c| c.prefix).collect();
        all.sort_unstable();
        let before = all.len();
        all.dedup();
        assert_eq!(all.len(), before);
    }
}
