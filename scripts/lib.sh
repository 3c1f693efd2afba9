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

# Quiet Mesa's warnings about a missing runtime dir (lavapipe).
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}

# Python packages of the reference scripts (scripts/teacher_forcing.py), kept
# out of the system Python; scripts run with PYTHONPATH="$NAVAJA_PYDEPS".
export NAVAJA_PYDEPS=${NAVAJA_PYDEPS:-$HOME/.cache/navaja/pydeps}
NUMPY_VERSION=2.4.6
GGUF_VERSION=0.19.0
