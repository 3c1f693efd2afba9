// The browser half of navaja's tests: the npm package (pkg/dist), loaded
// into headless Chromium on SwiftShader WebGPU, checked against values
// computed here in JavaScript. A missing adapter fails these tests.
// The language model API is tested in llm.test.mjs, the demo in demo.test.mjs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startServer } from '../../scripts/serve.mjs';
import { inPage, launchBrowser, openPage } from './browser.mjs';

const PKG_ENTRY = fileURLToPath(new URL('../../pkg/dist/index.js', import.meta.url));
const TIMEOUT = 180_000;

/** mulberry32: a tiny seeded PRNG, so failures reproduce. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** RMSNorm in float64 JavaScript: the reference for the GPU result. */
function rmsNormJs(x, w, eps) {
  const cols = w.length;
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let sumSq = 0;
    for (let i = 0; i < cols; i++) sumSq += x[r * cols + i] ** 2;
    const scale = 1 / Math.sqrt(sumSq / cols + eps);
    for (let i = 0; i < cols; i++) y[r * cols + i] = x[r * cols + i] * scale * w[i];
  }
  return y;
}

describe('navaja in headless Chromium (SwiftShader WebGPU)', { timeout: TIMEOUT }, () => {
  let server;
  let browser;
  let harness;

  before(async () => {
    assert.ok(existsSync(PKG_ENTRY), `${PKG_ENTRY} is missing: build the package first (scripts/build-web.sh)`);
    server = await startServer(0);
    browser = await launchBrowser();
    harness = await openPage(browser, `${server.url}/web/tests/harness.html`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('createEngine opens the SwiftShader WebGPU adapter', async () => {
    const result = await inPage(harness.page, async (navaja) => {
      try {
        const engine = await navaja.createEngine();
        const result = { adapter: engine.adapter, f16: engine.shaderF16, mode: engine.mode };
        await engine.dispose();
        return result;
      } catch (e) {
        return { error: `${e.code}: ${e.message}` };
      }
    });
    assert.equal(result.error, undefined, `no WebGPU adapter in Chromium: ${result.error}`);
    assert.match(result.adapter.name.toLowerCase(), /swiftshader/, `adapter: ${JSON.stringify(result.adapter)}`);
    assert.equal(result.adapter.backend, 'browserwebgpu');
    assert.ok(result.adapter.limits.max_storage_buffer_binding_size >= 128 * 2 ** 20);
    assert.ok(result.adapter.limits.max_compute_invocations_per_workgroup >= 256);
    // SwiftShader has no shader-f16: the device must not claim it.
    assert.equal(result.f16, result.adapter.shader_f16);
    assert.equal(result.mode, 'worker', 'the engine runs in a Worker by default');
  });

  test('rmsNorm matches a JavaScript float64 computation on random data', async () => {
    const next = rng(1234);
    const shapes = [[1, 1], [3, 7], [2, 255], [2, 257], [64, 576], [3, 640], [2, 2048], [1, 5000]];
    for (const [i, [rows, cols]] of shapes.entries()) {
      const scale = [0.01, 1, 300][i % 3];
      const x = Array.from({ length: rows * cols }, () => (next() * 2 - 1) * scale);
      const w = Array.from({ length: cols }, () => (next() * 2 - 1) * 2);
      const eps = i % 2 ? 1e-6 : 1e-5;
      // The page sees float32 inputs; the reference uses the same float32 values.
      const x32 = Float32Array.from(x);
      const w32 = Float32Array.from(w);
      const got = await inPage(
        harness.page,
        async (navaja, x, w, eps) => {
          const engine = await navaja.createEngine();
          try {
            return Array.from(await engine.rmsNorm(Float32Array.from(x), Float32Array.from(w), eps));
          } finally {
            await engine.dispose();
          }
        },
        Array.from(x32),
        Array.from(w32),
        eps,
      );
      const want = rmsNormJs(x32, w32, eps);
      assert.equal(got.length, want.length);
      for (let j = 0; j < want.length; j++) {
        const tol = 2e-6 + 1e-5 * Math.abs(want[j]);
        assert.ok(Math.abs(got[j] - want[j]) <= tol, `${rows}x${cols} element ${j}: gpu ${got[j]} vs js ${want[j]}`);
      }
    }
  });

  test('bad arguments reject with typed errors and leave the engine usable', async () => {
    const result = await inPage(harness.page, async (navaja) => {
      const engine = await navaja.createEngine();
      const codeOf = (p) => p.then(() => 'resolved', (e) => `${e instanceof navaja.NavajaError}:${e.code}`);
      const mismatched = await codeOf(engine.rmsNorm(new Float32Array(5), new Float32Array(2)));
      const empty = await codeOf(engine.rmsNorm(new Float32Array(0), new Float32Array(2)));
      const notTyped = await codeOf(engine.rmsNorm([1, 2], new Float32Array(2)));
      const badEps = await codeOf(engine.rmsNorm(new Float32Array(2), new Float32Array(2), Number.NaN));
      const after = Array.from(await engine.rmsNorm(Float32Array.of(3, 4), Float32Array.of(1, 1), 0));
      await engine.dispose();
      const disposed = await codeOf(engine.rmsNorm(Float32Array.of(1), Float32Array.of(1)));
      return { mismatched, empty, notTyped, badEps, after, disposed };
    });
    assert.equal(result.mismatched, 'true:invalid-argument');
    assert.equal(result.empty, 'true:invalid-argument');
    assert.equal(result.notTyped, 'true:invalid-argument');
    assert.equal(result.badEps, 'true:invalid-argument');
    const s = 1 / Math.sqrt(12.5);
    assert.ok(Math.abs(result.after[0] - 3 * s) < 1e-6 && Math.abs(result.after[1] - 4 * s) < 1e-6, `${result.after}`);
    assert.equal(result.disposed, 'true:disposed');
  });

  test('without WebGPU, createEngine rejects with code webgpu-unavailable', async () => {
    const plain = await launchBrowser({ webgpu: false });
    try {
      const { page } = await openPage(plain, `${server.url}/web/tests/harness.html`);
      const result = await inPage(page, async (navaja) =>
        navaja.createEngine().then(
          () => 'resolved',
          (e) => ({ isNavajaError: e instanceof navaja.NavajaError, code: e.code, message: e.message }),
        ),
      );
      assert.equal(result.isNavajaError, true, JSON.stringify(result));
      assert.equal(result.code, 'webgpu-unavailable', JSON.stringify(result));
      assert.ok(result.message.length > 20, 'the message should tell the developer what to do');
    } finally {
      await plain.close();
    }
  });
});
