#!/usr/bin/env bash
# Every test Corral has, from a fresh clone: formatting, lints, then the Rust
# test suites (unit, property, golden-bytes, robustness, end-to-end).
set -euo pipefail
cd "$(dirname "$0")"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== fuzz target compiles"
cargo check --quiet --manifest-path jute/fuzz/Cargo.toml
echo "== cargo test"
cargo test --workspace
