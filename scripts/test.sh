#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, Rust tests, freshness of the
# committed contract artifacts, and the Cairo tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ciro/target}"
# One run builds each workspace crate once: incremental state would only cost disk, and
# it has tripped a compiler panic (unstable fingerprints) on this toolchain.
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "Schemathesis, for the HTTP checks against the OpenAPI documents"
# Pinned; installed once into a virtualenv beside the build cache.
venv="$HOME/.cache/ciro/venv"
schemathesis_version="4.32.5"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$schemathesis_version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
"$venv/bin/schemathesis" --version
export CIRO_SCHEMATHESIS="$venv/bin/schemathesis"
step "cargo test"
cargo test --workspace --locked
step "contract artifacts are fresh"
cargo run --quiet --locked -p ciro -- contracts build --check
step "Cairo tests"
cargo run --quiet --locked -p ciro -- contracts test
