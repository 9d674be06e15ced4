//! Shared by the fixture tests: where the fixture trees are, and golden outputs that
//! `CENTINELA_BLESS=1` rewrites.
#![allow(dead_code)] // each test binary uses part of this module

use centinela_shared::Reading;
use std::path::{Path, PathBuf};

/// `agent/tests/fixtures/<shape>`: a tree laid out like `/` (`proc/`, `sys/`).
pub fn fixture(shape: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(shape)
}

/// Compares `readings` with `<shape>/<file>` (pretty JSON), or rewrites it under `CENTINELA_BLESS=1`.
pub fn assert_golden(shape: &str, file: &str, readings: &[Reading]) {
    let path = fixture(shape).join(file);
    let actual = serde_json::to_string_pretty(readings).unwrap() + "\n";
    if std::env::var("CENTINELA_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with CENTINELA_BLESS=1 to create it", path.display()));
    assert!(
        actual == expected,
        "{} differs; if the change is intended, rerun with CENTINELA_BLESS=1\n{actual}",
        path.display()
    );
}
