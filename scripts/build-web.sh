#!/usr/bin/env bash
# Builds the browser package into pkg/dist:
#   crates/navaja-web -> wasm32 (Debian's rustc-web, std rebuilt with -Zbuild-std)
#   -> wasm-bindgen (the exact version pinned in Cargo.toml) -> pkg/dist/wasm
#   web/src/*.ts -> tsc -> pkg/dist
# Incremental: cargo and tsc only redo what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# wasm-release (Cargo.toml): release, optimised for size. NAVAJA_WASM_PROFILE=dev for quick debug builds.
profile=${NAVAJA_WASM_PROFILE:-wasm-release}
target_dir=target/wasm   # wasm_cargo_build's (scripts/lib.sh)
log "building crates/navaja-web for wasm32 ($profile)"
out_dir=$profile
[ "$profile" = dev ] && out_dir=debug
wasm_cargo_build -p navaja-web --profile "$profile"

log "wasm-bindgen -> pkg/dist/wasm"
rm -rf pkg/dist/wasm
# No name section: it is a third of the file and only names functions in stack traces.
wasm-bindgen --target web --remove-name-section --out-dir pkg/dist/wasm --out-name navaja_web \
  "$target_dir/wasm32-unknown-unknown/$out_dir/navaja_web.wasm"

log "tsc web/src -> pkg/dist"
(cd web && ./node_modules/.bin/tsc -p tsconfig.json)
# Bytes over the wire: each file gzipped on its own, as a server sends them.
gz() { for f in "$@"; do gzip -9c "$f" | wc -c; done | awk '{ s += $1 } END { print s }'; }
log "pkg/dist ready: wasm $(du -k pkg/dist/wasm/navaja_web_bg.wasm | cut -f1) KiB ($(( $(gz pkg/dist/wasm/navaja_web_bg.wasm) / 1024 )) KiB gzipped), JavaScript $(( $(gz pkg/dist/*.js pkg/dist/wasm/*.js) / 1024 )) KiB gzipped"
