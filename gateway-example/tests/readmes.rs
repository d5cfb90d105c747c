//! The READMEs stay true to the crates a user depends on: each library crate's README
//! names the crate's current version and is run as that crate's doctest, and the root
//! README shows how to depend on every library crate.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test setup: a panic is the failure report

use std::path::{Path, PathBuf};

/// The published crates; they share the workspace's version with this one.
const LIBRARIES: [&str; 4] = [
    "pool-layer",
    "cache-layer",
    "limits-layer",
    "provider-adapters",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What a user writes in `[dependencies]`: `name = "0.1"` before 1.0, `name = "1"` after.
fn dependency_line(name: &str) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split('.');
    let major = parts.next().unwrap();
    let wanted = match major {
        "0" => format!("0.{}", parts.next().unwrap()),
        _ => major.to_string(),
    };
    format!("{name} = \"{wanted}\"")
}

#[test]
fn each_library_readme_names_the_current_version() {
    for lib in LIBRARIES {
        let readme = read(&workspace().join(lib).join("README.md"));
        let line = dependency_line(lib);
        assert!(
            readme.contains(&line),
            "{lib}/README.md should say `{line}`"
        );
    }
}

#[test]
fn each_library_crate_includes_its_readme_as_a_doctest() {
    for lib in LIBRARIES {
        let readme = read(&workspace().join(lib).join("README.md"));
        assert!(
            readme.contains("\n```rust\n") && readme.contains("fn main()"),
            "{lib}/README.md has no complete Rust example"
        );
        let lib_rs = read(&workspace().join(lib).join("src/lib.rs"));
        assert!(
            lib_rs.contains("#[cfg(doctest)]\n#[doc = include_str!(\"../README.md\")]"),
            "{lib}/src/lib.rs does not run its README as a doctest"
        );
    }
}

#[test]
fn the_root_readme_shows_how_to_depend_on_every_library() {
    let readme = read(&workspace().join("README.md"));
    for lib in LIBRARIES {
        let line = dependency_line(lib);
        assert!(readme.contains(&line), "README.md should say `{line}`");
    }
}

#[test]
fn the_root_readme_starts_with_the_run_and_test_commands() {
    let readme = read(&workspace().join("README.md"));
    let first_block = readme
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has a sh block");
    assert_eq!(
        first_block,
        "cargo run --release -p gateway-example\ncargo test --workspace\n"
    );
}
