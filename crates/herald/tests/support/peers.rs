//! Finding the independent peers the tests drive (installed by `.ci/peers`): SMPP peers, the
//! published HTTP client of the `/v1` API, and a webhook verifier. A missing peer
//! fails the test with the command that installs it: CI installs them, so a skip would hide a
//! broken setup.

use std::path::PathBuf;
use std::process::Command;

pub const INSTALL: &str = "install the interop peers first:\n  \
    npm ci --prefix crates/herald/tests/peers\n  \
    python3 -m pip install -r crates/herald/tests/peers/requirements.txt";

pub fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// The Node.js to run npm `smpp` scripts with (`HERALD_NODE`, default `node`).
pub fn node() -> String {
    let node = std::env::var("HERALD_NODE").unwrap_or_else(|_| "node".into());
    let module = peers_dir().join("node_modules/smpp/package.json");
    assert!(
        module.exists(),
        "npm `smpp` is missing ({module:?}); {INSTALL}"
    );
    let ok = Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "`{node}` does not run; {INSTALL}");
    node
}

/// The Python that can import PyPI `smpplib` (`HERALD_PYTHON`, default `python3`).
pub fn python() -> String {
    python_importing("smpplib", "smpplib")
}

/// The Python (`HERALD_PYTHON`, default `python3`) that can import `module`, from PyPI `package`.
pub fn python_importing(module: &str, package: &str) -> String {
    let python = std::env::var("HERALD_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "PyPI `{package}` cannot be imported by `{python}`; {INSTALL}"
    );
    python
}
