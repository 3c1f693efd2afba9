// navaja-core's CPU kernels as the browser runs them: crates/navaja-kernel-check
// built for wasm32 with simd128 (scripts/test.sh, the flags of the browser
// build), compared inside WebAssembly with the kernels' portable loops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WASM = `${ROOT}target/wasm/wasm32-unknown-unknown/wasm-release/navaja_kernel_check.wasm`;

test('the SIMD kernels agree with the portable loops inside WebAssembly', async () => {
  assert.ok(existsSync(WASM), `${WASM} is missing: scripts/test.sh builds it (wasm_cargo_build -p navaja-kernel-check)`);
  const { instance } = await WebAssembly.instantiate(readFileSync(WASM), {});
  const k = instance.exports;
  assert.equal(k.navaja_kernel_simd(), 1, 'the check was built without simd128');
  const worst = k.navaja_kernel_worst_error();
  console.log(`# worst difference, relative to the sum of |terms|: ${worst.toExponential(2)}`);
  assert.equal(k.navaja_kernel_mismatches(), 0, `worst relative difference ${worst}`);
});
