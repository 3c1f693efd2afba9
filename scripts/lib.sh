# Helpers shared by the scripts in this folder (sourced, not run).

log() { printf '\033[1m[navaja]\033[0m %s\n' "$*" >&2; }
die() { printf '[navaja] error: %s\n' "$*" >&2; exit 1; }

# The wasm-bindgen version pinned with `=` in Cargo.toml.
pinned_wasm_bindgen_version() {
  sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml
}

# True when the default rustc already has a wasm32 std (a rustup user's
# machine); then the Debian -Zbuild-std route is not needed.
wasm_std_installed() {
  local sysroot
  sysroot=$(rustc --print sysroot 2>/dev/null) || return 1
  [ -d "$sysroot/lib/rustlib/wasm32-unknown-unknown/lib" ]
}

# cargo build for the browser: wasm32 with simd128 (the CPU backend's integer
# dot products, navaja-core/src/cpu/dot.rs; every browser with WebGPU has had
# WebAssembly SIMD for years), std rebuilt with Debian's toolchain where no
# wasm32 std is installed (RUSTC_BOOTSTRAP lets stable cargo use -Zbuild-std).
# Its own target dir: the wasm toolchain (rustc 1.96) must not share the native one.
wasm_cargo_build() {
  local flags=(--target wasm32-unknown-unknown --target-dir target/wasm "$@")
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128"
  if wasm_std_installed; then
    cargo build "${flags[@]}"
  else
    PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 cargo build "${flags[@]}" -Zbuild-std=std,panic_abort
  fi
}

# Quiet Mesa's warnings about a missing runtime dir (lavapipe).
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}

# Python packages of the reference scripts (scripts/teacher_forcing.py), kept
# out of the system Python; scripts run with PYTHONPATH="$NAVAJA_PYDEPS".
export NAVAJA_PYDEPS=${NAVAJA_PYDEPS:-$HOME/.cache/navaja/pydeps}
NUMPY_VERSION=2.4.6
GGUF_VERSION=0.19.0
