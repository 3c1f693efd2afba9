#!/usr/bin/env bash
# The whole test suite: native (cargo, GPU tests on the default wgpu adapter,
# lavapipe on CI), then node tests (browser tests in headless Chromium on
# SwiftShader WebGPU, end-to-end CLI and model checks). Ends with one line
# `navaja tests: N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
command -v cargo >/dev/null || export PATH=/usr/bin:$PATH

logs=$(mktemp -d)
status=0

log "native tests (cargo test --workspace)"
cargo test --workspace --color never 2>&1 | tee "$logs/cargo.txt"
[ "${PIPESTATUS[0]}" = 0 ] || status=1

log "building the navaja CLI for the end-to-end tests"
# The same package selection as `cargo test --workspace`, so features unify
# identically and nothing is rebuilt.
cargo build --workspace --color never 2>&1 | tail -n 3 || status=1

log "building the CPU kernel check for wasm32 + simd128 (tests/wasm_kernels.test.mjs)"
wasm_cargo_build -p navaja-kernel-check --profile wasm-release --color never 2>&1 | tail -n 3 || status=1

log "browser and end-to-end tests (node --test)"
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$logs/node.tap" \
  web/tests/ tests/ || status=1

# cargo prints one "test result: ok. N passed; M failed; ..." line per test binary.
read -r cargo_passed cargo_failed < <(awk '/^test result:/ { for (i = 1; i < NF; i++) {
    if ($(i+1) ~ /^passed;/) p += $i; if ($(i+1) ~ /^failed;/) f += $i }; n++ }
  END { if (n) print p, f; else print "", "" }' "$logs/cargo.txt")
node_passed=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$logs/node.tap")
node_failed=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$logs/node.tap")
passed=$(( ${cargo_passed:-0} + ${node_passed:-0} ))
failed=$(( ${cargo_failed:-0} + ${node_failed:-0} ))
# A runner that crashed before reporting counts as a failure, not as zero tests.
if [ -z "${cargo_passed}" ] || [ -z "${node_passed}" ]; then
  log "a test runner produced no summary"
  failed=$(( failed + 1 )); status=1
fi
[ "$failed" = 0 ] || status=1
echo "navaja tests: $passed passed, $failed failed"
exit "$status"
