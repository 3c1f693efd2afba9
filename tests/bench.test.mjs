// The benchmark suite's own arithmetic and report (tests/bench/lib): the
// suite itself takes too long for CI (`make bench`), so what turns its
// measurements into medians, target ratios and docs/BENCHMARKS.md is
// checked here on a made-up report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { cosine, summary } from './bench/lib/stats.mjs';
import { targets, writeReport } from './bench/lib/report.mjs';

const s = (median, min = median, max = median) => ({ median, min, max, runs: 3 });

const REPORT = {
  date: '2026-12-02T03:00:00.000Z',
  seconds: 1234,
  machine: { cpus: 2, cpu_model: 'test cpu', memory_gib: 24, node: 'v20', chromium: '156.0' },
  workload: { llm: 'models/x.gguf', prompt_tokens: 128, decode_tokens: 64, embedding_model: 'm', embedding_batch: 64, words_per_text: 15, kv_context: 2000, runs: 3 },
  versions: { navaja: '0.1.0', wllama: '3.13.0', transformers_js: '4.3.2', onnxruntime_web: '1.31', node_llama_cpp: '3.22.1' },
  browser_bandwidth: { adapter: { architecture: 'swiftshader', shader_f16: false }, kernels: [{ kernel: 'k', gb_per_s: s(2) }], best_gb_per_s: s(2) },
  browser_llm: [
    { id: 'navaja', engine: 'navaja', version: '0.1.0', config: 'webgpu', decode_tokens_per_s: s(3, 2, 4), prefill_tokens_per_s: s(4), load_ms: s(100), ttft_ms: s(900), peak_memory_bytes: s(2 ** 28) },
    { id: 'navaja-cpu', engine: 'navaja', version: '0.1.0', config: 'cpu backend', decode_tokens_per_s: s(9), prefill_tokens_per_s: s(3), load_ms: s(100), ttft_ms: s(900), peak_memory_bytes: s(2 ** 28), weight_bytes: 96e6, kv_bytes_per_token: 12500 },
    { id: 'wllama-cpu', engine: 'wllama', version: '3.13.0', config: 'cpu', decode_tokens_per_s: s(12), prefill_tokens_per_s: s(20), load_ms: s(100), ttft_ms: s(90), peak_memory_bytes: s(2 ** 28) },
    { id: 'wllama-webgpu', engine: 'wllama', version: '3.13.0', config: 'gpu', decode_tokens_per_s: s(15), prefill_tokens_per_s: s(16), load_ms: s(100), ttft_ms: s(90), peak_memory_bytes: s(2 ** 28), log: ['ggml_webgpu: no adapter'] },
  ],
  browser_embed: [
    { id: 'navaja', engine: 'navaja', version: '0.1.0', config: 'webgpu', texts_per_s: s(6), load_ms: s(1), peak_memory_bytes: s(1) },
    { id: 'navaja-cpu', engine: 'navaja', version: '0.1.0', config: 'cpu backend', texts_per_s: s(90), load_ms: s(1), peak_memory_bytes: s(1), cosine_vs_navaja: [0.99999, 0.99998] },
    { id: 'transformers-wasm', engine: 'transformers.js', version: '4.3.2', config: 'wasm', texts_per_s: s(60), load_ms: s(1), peak_memory_bytes: s(1), cosine_vs_navaja: [0.9995, 0.9996] },
    { id: 'transformers-webgpu', engine: 'transformers.js', version: '4.3.2', config: 'webgpu', texts_per_s: s(0.1), load_ms: s(1), peak_memory_bytes: s(1) },
  ],
  native: {
    navaja: { adapter: 'llvmpipe', kv: 'q8', decode_tokens_per_s: s(6), prefill_tokens_per_s: s(30), decode_bytes_per_token: { weights: 98e6, kv_cache: 2e6, total: 100e6 }, read_bandwidth_gb_per_s: s(1.5), fraction_of_read_bandwidth: s(0.4) },
    llama_cpp: { version: 'llama.cpp@v0', build: 'prebuilt', threads: 2, decode_tokens_per_s: s(5), prefill_tokens_per_s: s(100) },
  },
  kv: { context: 2000, decode_tokens: 8, kv: [{ kv: 'f32', decode_tokens_per_s: s(1.5), vs_f32: 1, kv_bytes_per_token: 46080, decode_bytes_per_token: { total: 190e6 }, fraction_of_read_bandwidth: 0.2 }] },
  failures: [],
};

test('summary: median, min and max, ignoring what is not a number', () => {
  assert.deepEqual(summary([3, 1, 2]), { median: 2, min: 1, max: 3, runs: 3 });
  assert.deepEqual(summary([5, NaN, undefined, 4]), { median: 5, min: 4, max: 5, runs: 2 });
  assert.equal(summary([]), null);
  assert.ok(Math.abs(cosine([1, 0], [1, 1]) - Math.SQRT1_2) < 1e-12);
});

test("targets compare navaja with each peer's best configuration", () => {
  const t = Object.fromEntries(targets(REPORT).map((r) => [r.what, r]));
  // navaja's best configuration too: its CPU backend decodes faster, its WebGPU path prefills faster.
  const decode = t["decode tokens/s, navaja-cpu vs wllama's best"];
  assert.equal(decode.against, 'wllama-webgpu');
  assert.equal(decode.value, 9 / 15);
  assert.equal(decode.met, false);
  const prefill = t["prefill tokens/s, navaja vs wllama's best"];
  assert.equal(prefill.against, 'wllama-cpu');
  assert.equal(prefill.value, 4 / 20);
  const minilm = t["MiniLM texts/s, navaja-cpu vs transformers.js' best"];
  assert.equal(minilm.against, 'transformers-wasm');
  assert.equal(minilm.value, 90 / 60);
  assert.equal(minilm.met, true);
  const gpu = t['MiniLM texts/s, navaja-cpu vs transformers.js WebGPU'];
  assert.ok(Math.abs(gpu.value - 900) < 1e-9);
  assert.equal(gpu.met, true);
  // 100 MB per token at 3 tokens/s is 0.3 GB/s of the best kernel's 2 GB/s.
  assert.ok(Math.abs(t['browser WebGPU decode, fraction of the best read kernel'].value - 0.15) < 1e-12);
});

test('the markdown and the chart carry every engine and the targets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'navaja-report-'));
  writeReport(REPORT, { markdown: join(dir, 'B.md'), svg: join(dir, 'b.svg') });
  const md = readFileSync(join(dir, 'B.md'), 'utf8');
  for (const needle of ['wllama 3.13.0', 'transformers.js 4.3.2', '| navaja | 30.0 (30.0–30.0) | 6.00 (6.00–6.00) |', 'ggml_webgpu: no adapter', '| decode tokens/s, navaja-cpu vs wllama\'s best (wllama-webgpu) | 0.60 | ≥ 1.2 | **no** |', '0.9995, 0.9996', "CPU backend (WebAssembly, no WGSL) reads 98.0 MB per token", 'is 0.88 GB/s: 0.44x what the best WGSL read kernel reaches']) {
    assert.ok(md.includes(needle), `BENCHMARKS.md lacks ${needle}`);
  }
  const svg = readFileSync(join(dir, 'b.svg'), 'utf8');
  assert.match(svg, /^<svg /);
  assert.equal((svg.match(/<rect /g) ?? []).length, 1 + 4 + 4 + 4 + 2 + 1);
});
