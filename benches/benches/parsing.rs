//! Stream parsing throughput and translation cost per call.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use provider_adapters::request::peek;
use provider_adapters::sse::{NdjsonParser, SseParser};
use provider_adapters::translate;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../provider-adapters/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn parsers(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    // ~1 MiB of real stream text, fed in 1400-byte pieces (one TCP segment each).
    let sse: Vec<u8> = fixture("openai_stream.sse").repeat(1024 * 1024 / 1000);
    group.throughput(Throughput::Bytes(sse.len() as u64));
    group.bench_function("sse_openai", |b| {
        b.iter(|| {
            let mut parser = SseParser::default();
            let mut out = Vec::new();
            for piece in sse.chunks(1400) {
                parser.feed(piece, &mut out).unwrap();
                out.clear();
            }
        })
    });
    let nd: Vec<u8> = fixture("ollama_stream.ndjson").repeat(1024 * 1024 / 600);
    group.throughput(Throughput::Bytes(nd.len() as u64));
    group.bench_function("ndjson_ollama", |b| {
        b.iter(|| {
            let mut parser = NdjsonParser::default();
            let mut out = Vec::new();
            for piece in nd.chunks(1400) {
                parser.feed(piece, &mut out).unwrap();
                out.clear();
            }
        })
    });
    group.finish();
}

fn translations(c: &mut Criterion) {
    let mut group = c.benchmark_group("translate");
    let openai_req = json("openai_tool_request.json");
    let anthropic_resp = json("anthropic_tool_response.json");
    let gemini_resp = json("gemini_response.json");
    let openai_resp = json("openai_chat_response.json");
    group.bench_function("openai_to_anthropic_request", |b| {
        b.iter(|| black_box(translate::openai_to_anthropic_request(&openai_req, "claude").unwrap()))
    });
    group.bench_function("anthropic_to_openai_response", |b| {
        b.iter(|| black_box(translate::anthropic_to_openai_response(&anthropic_resp).unwrap()))
    });
    group.bench_function("openai_to_gemini_request", |b| {
        b.iter(|| black_box(translate::openai_to_gemini_request(&openai_req, "gemini").unwrap()))
    });
    group.bench_function("gemini_to_openai_response", |b| {
        b.iter(|| black_box(translate::gemini_to_openai_response(&gemini_resp, "gemini").unwrap()))
    });
    group.bench_function("openai_to_anthropic_response", |b| {
        b.iter(|| black_box(translate::openai_to_anthropic_response(&openai_resp).unwrap()))
    });
    let body = fixture("openai_tool_request.json");
    group.bench_function("model_extraction", |b| {
        b.iter(|| black_box(peek(&body).unwrap()))
    });
    group.finish();
}

/// Bytes in, bytes out, as a request really is translated: through the typed model.
fn translations_bytes(c: &mut Criterion) {
    use provider_adapters::translate::Client;
    use provider_adapters::Provider;
    let mut group = c.benchmark_group("translate_bytes");
    let openai_req = fixture("openai_tool_request.json");
    let anthropic_resp = fixture("anthropic_tool_response.json");
    let gemini_resp = fixture("gemini_response.json");
    let openai_resp = fixture("openai_chat_response.json");
    group.bench_function("openai_to_anthropic_request", |b| {
        b.iter(|| {
            black_box(
                translate::request(Client::OpenAi, &openai_req, Provider::Anthropic, "claude")
                    .unwrap(),
            )
        })
    });
    group.bench_function("anthropic_to_openai_response", |b| {
        b.iter(|| {
            black_box(
                translate::response(Provider::Anthropic, &anthropic_resp, Client::OpenAi, "")
                    .unwrap(),
            )
        })
    });
    group.bench_function("openai_to_gemini_request", |b| {
        b.iter(|| {
            black_box(
                translate::request(Client::OpenAi, &openai_req, Provider::Gemini, "gemini")
                    .unwrap(),
            )
        })
    });
    group.bench_function("gemini_to_openai_response", |b| {
        b.iter(|| {
            black_box(
                translate::response(Provider::Gemini, &gemini_resp, Client::OpenAi, "gemini")
                    .unwrap(),
            )
        })
    });
    group.bench_function("openai_to_anthropic_response", |b| {
        b.iter(|| {
            black_box(
                translate::response(Provider::OpenAi, &openai_resp, Client::Anthropic, "").unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, parsers, translations, translations_bytes);
criterion_main!(benches);
