//! The Python the client tests run: `GATEWAY_SDK_PYTHON` (`.ci/run` sets it to a venv
//! it made), or a venv made once under the target directory with
//! `tests/sdk/requirements.txt` from PyPI. Shared by the test files that need it, and
//! made by one test at a time (the tests of one file run in parallel).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// `tests/sdk`: the requirements and the Python scripts.
pub(crate) fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

/// A Python with the pinned requirements installed.
pub(crate) fn python() -> PathBuf {
    if let Ok(python) = std::env::var("GATEWAY_SDK_PYTHON") {
        return PathBuf::from(python);
    }
    // One maker per process; the marker file tells later processes it is done.
    static MAKING: OnceLock<Mutex<()>> = OnceLock::new();
    let _one = MAKING
        .get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdk-venv");
    let python = venv.join("bin/python");
    let requirements = std::fs::read_to_string(sdk_dir().join("requirements.txt"))
        .expect("tests/sdk/requirements.txt");
    let marker = venv.join("installed.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(requirements.as_str()) {
        return python;
    }
    let run = |cmd: &mut Command| {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(sdk_dir().join("requirements.txt")));
    std::fs::write(&marker, requirements).expect("the venv's marker file");
    python
}
