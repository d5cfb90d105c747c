//! Any JSON through every request and response translation: never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use provider_adapters::translate;

fuzz_target!(|data: &[u8]| {
    use provider_adapters::translate::Client;
    use provider_adapters::Provider;
    for provider in [Provider::OpenAi, Provider::Anthropic, Provider::Gemini, Provider::Ollama] {
        let _ = translate::request(Client::OpenAi, data, provider, "m");
        let _ = translate::request(Client::Anthropic, data, provider, "m");
        let _ = translate::response(provider, data, Client::OpenAi, "m");
        let _ = translate::response(provider, data, Client::Anthropic, "m");
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = translate::openai_to_anthropic_request(&value, "m");
    let _ = translate::anthropic_to_openai_response(&value);
    let _ = translate::anthropic_to_openai_request(&value, "m");
    let _ = translate::openai_to_anthropic_response(&value);
    let _ = translate::openai_to_gemini_request(&value, "m");
    let _ = translate::gemini_to_openai_response(&value, "m");
    let _ = translate::openai_to_ollama_request(&value, "m", true);
    let _ = translate::ollama_to_openai_response(&value);
});
