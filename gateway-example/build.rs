//! Hands the build's git commit to the crate as `GATEWAY_GIT_COMMIT`, for
//! `gateway --version`: `GATEWAY_GIT_COMMIT` from the environment if set (a packager
//! building without git), else `git rev-parse --short=12 HEAD`, else `unknown` (no git,
//! or no `.git`).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GATEWAY_GIT_COMMIT");
    let commit = std::env::var("GATEWAY_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=GATEWAY_GIT_COMMIT={}", commit.trim());

    // Build again when HEAD moves: a commit, a checkout, a fetch into packed refs. Only
    // existing files: cargo would take a missing one as changed on every build.
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// The trimmed output of a successful git command; `None` without git, outside a
/// repository, or on a non-UTF-8 answer.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}
