//! Peak memory while translating a 10 MiB body: a small multiple of the body, because
//! strings borrow from it and arbitrary JSON stays raw text. Measured as the process's
//! peak resident set (`VmHWM`, reset through `/proc/self/clear_refs`); this test binary
//! runs nothing else.
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use provider_adapters::translate::{self, Client};
use provider_adapters::Provider;

const MIB: usize = 1024 * 1024;

/// A `kB` line of `/proc/self/status`, in bytes.
fn status(key: &str) -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Peak resident memory above the resident memory before `f`, in bytes; `None` where
/// the kernel does not let the peak be reset.
fn peak_of(f: impl FnOnce()) -> Option<usize> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = status("VmRSS:")?;
    f();
    Some(status("VmHWM:")?.saturating_sub(before))
}

fn image_request() -> Vec<u8> {
    let data = "A".repeat(10 * MIB);
    format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"text","text":"what is it?"}},{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{data}"}}}}]}}]}}"#
    )
    .into_bytes()
}

fn text_request() -> Vec<u8> {
    // Newlines are escapes: this text cannot be borrowed and is decoded once.
    let text = "line of text\\n".repeat(10 * MIB / 14);
    format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{text}"}}]}}"#).into_bytes()
}

/// One case, in a process of its own (freed pages a previous case left would hide
/// this one's peak): run by the test below with `MEMORY_CASE=body:provider`.
#[test]
fn one_case() {
    let Ok(case) = std::env::var("MEMORY_CASE") else {
        return;
    };
    let (name, provider) = case.split_once(':').unwrap();
    let body = if name == "image" {
        image_request()
    } else {
        text_request()
    };
    let provider = match provider {
        "anthropic" => Provider::Anthropic,
        "gemini" => Provider::Gemini,
        _ => Provider::Ollama,
    };
    let mut out_len = 0;
    let peak = peak_of(|| {
        let out = translate::request(Client::OpenAi, &body, provider, "m").unwrap();
        out_len = out.len();
    });
    assert!(out_len > 10 * MIB * 9 / 10, "{case}: {out_len}");
    match peak {
        Some(peak) => println!("PEAK {peak} {}", body.len()),
        None => println!("PEAK unknown"),
    }
}

#[test]
fn a_10_mib_translated_body_peaks_at_a_small_multiple_of_its_size() {
    let exe = std::env::current_exe().unwrap();
    let mut report = Vec::new();
    let cases = ["image", "text"]
        .iter()
        .flat_map(|n| ["anthropic", "gemini", "ollama"].map(|p| (*n, p)))
        .chain([("answer", "gemini")]);
    {
        for (name, provider) in cases {
            let out = std::process::Command::new(&exe)
                .args(["--exact", "one_case", "--nocapture", "--test-threads=1"])
                .env("MEMORY_CASE", format!("{name}:{provider}"))
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // The harness prints `test one_case ... ` before the test's own output.
            let line = stdout.split("PEAK").nth(1).unwrap_or("unknown");
            let nums: Vec<f64> = line
                .split_whitespace()
                .take(2)
                .filter_map(|n| n.parse().ok())
                .collect();
            let [peak, size] = nums[..] else {
                report.push(format!(
                    "{name} → {provider}: not measured (peak RSS cannot be reset)"
                ));
                continue;
            };
            let multiple = peak / size;
            report.push(format!(
                "{name} → {provider}: peak {:.1} MiB over a {:.1} MiB body = {multiple:.2}×",
                peak / MIB as f64,
                size / MIB as f64
            ));
            // The upstream body itself is about one body; the canonical model adds little.
            assert!(multiple < 2.5, "{}", report.join("\n"));
        }
    }
    println!("{}", report.join("\n"));
}
