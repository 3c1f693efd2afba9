// The CPU backend in headless Chromium: navaja-core's decoder and encoder
// compiled to WebAssembly (SIMD), chosen with createEngine({ backend: 'cpu' }),
// and by 'auto' on a software WebGPU adapter (SwiftShader here) or without
// WebGPU. Generated ids and embeddings are checked against the independent
// references (tests/fixtures/reference), never against navaja's own output.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startServer } from '../../scripts/serve.mjs';
import { inPage, launchBrowser, openPage } from './browser.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODEL_PATH = `${ROOT}models/SmolLM2-135M-Instruct.Q4_1.gguf`;
const MODEL_URL = '/models/SmolLM2-135M-Instruct.Q4_1.gguf';
const REFERENCES = JSON.parse(readFileSync(`${ROOT}tests/fixtures/reference/reference.json`, 'utf8'));
const REFERENCE = REFERENCES['smollm2-135m-instruct-q4_1'];
const MINILM = REFERENCES['all-minilm-l6-v2'];
const MINILM_URL = '/models/all-MiniLM-L6-v2/';
const TIMEOUT = 600_000;

describe('the CPU backend in headless Chromium', { timeout: TIMEOUT }, () => {
  let server;
  let browser;
  let harness;

  before(async () => {
    assert.ok(existsSync(`${ROOT}pkg/dist/index.js`), 'pkg/dist is missing: build the package first (scripts/build-web.sh)');
    assert.ok(existsSync(MODEL_PATH), `${MODEL_PATH} is missing: run scripts/setup.sh`);
    server = await startServer(0);
    browser = await launchBrowser();
    harness = await openPage(browser, `${server.url}/web/tests/harness.html`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test("backend 'cpu' greedy-generates the reference ids, streaming, in a worker", async () => {
    const r = await inPage(
      harness.page,
      async (navaja, url, prompt) => {
        const engine = (window.engine = await navaja.createEngine({ backend: 'cpu' }));
        const info = await engine.load(url);
        const c = await engine.completions.create({ prompt, max_tokens: 20, temperature: 0 });
        const pieces = [];
        const stream = await engine.completions.create({ prompt, max_tokens: 4, temperature: 0, stream: true });
        for await (const chunk of stream) pieces.push(chunk.choices[0].text);
        return { mode: engine.mode, adapter: engine.adapter, info, c, pieces };
      },
      MODEL_URL,
      REFERENCE.prompt_text,
    );
    console.log(`# cpu backend: load ${r.info.load_ms.toFixed(0)} ms; timings ${JSON.stringify(r.c.navaja.timings)}`);
    assert.equal(r.mode, 'worker');
    assert.equal(r.adapter.backend, 'cpu');
    // The default cache: q8 (30 layers x keys and values x 192 int8 + 6 f32 scales).
    assert.equal(r.info.kv, 'q8');
    assert.equal(r.info.kv_bytes_per_token, 12960);
    // 8-bit activations move logits by up to ~0.4 (navaja-core's cpu_backend
    // tests): a near-tie may flip (the 5th token here: the f32 reference's two
    // best are 0.16 apart), so the check is agreement position by position.
    const ids = r.c.navaja.token_ids;
    const want = REFERENCE.greedy_next_20_ids;
    assert.deepEqual(ids.slice(0, 4), want.slice(0, 4));
    const agree = ids.filter((id, i) => id === want[i]).length;
    assert.ok(agree >= 18, `greedy ids ${JSON.stringify(ids)} agree with the reference at ${agree} of 20 positions`);
    assert.ok(r.pieces.filter(Boolean).length >= 2, `streamed pieces ${JSON.stringify(r.pieces)}`);
    assert.equal(r.pieces.join(''), r.c.choices[0].text.slice(0, r.pieces.join('').length));
  });

  test('the CPU engine answers bad requests with typed errors, and keeps working', async () => {
    const r = await inPage(harness.page, async (navaja, prompt) => {
      const engine = window.engine;
      const codeOf = (p) => p.then(() => 'resolved', (e) => `${e instanceof navaja.NavajaError}:${e.code}`);
      const embed = await codeOf(engine.embeddings.create({ input: ['hello'] }));
      const tooLong = await codeOf(engine.completions.create({ prompt: 'x '.repeat(5000), max_tokens: 2 }));
      // The CPU computes in the Worker; it yields often enough for an abort to stop a stream.
      const controller = new AbortController();
      const stream = await engine.completions.create({ prompt, max_tokens: 200, temperature: 0, stream: true, signal: controller.signal });
      let chunks = 0;
      let aborted = null;
      try {
        for await (const chunk of stream) if (chunk.choices[0].text && ++chunks === 2) controller.abort();
      } catch (e) {
        aborted = e.code;
      }
      const next = await engine.completions.create({ prompt, max_tokens: 2, temperature: 0 });
      return { embed, tooLong, aborted, chunks, next: next.navaja.token_ids };
    }, REFERENCE.prompt_text);
    assert.equal(r.embed, 'true:invalid-argument', 'no embedding model is loaded');
    assert.equal(r.tooLong, 'true:context-overflow');
    assert.equal(r.aborted, 'aborted');
    assert.ok(r.chunks < 40, `${r.chunks} chunks streamed before the abort took effect`);
    assert.deepEqual(r.next, REFERENCE.greedy_next_20_ids.slice(0, 2));
  });

  test('the CPU engine embeds MiniLM beside the language model, on the numpy reference', async () => {
    const { first, ...others } = MINILM.cosine_with_first;
    const r = await inPage(harness.page, async (navaja, url, texts) => {
      const engine = window.engine;
      const info = await engine.load(url, { cache: 'none' });
      const response = await engine.embeddings.create({ input: texts });
      // An embedding model ranks by the cosine similarity of embeddings.
      const rerank = await engine.rerank({ query: texts[0], documents: texts.slice(1) });
      const lm = await engine.completions.create({ prompt: 'Hello', max_tokens: 1, temperature: 0 });
      return { info, response, rerank, lmTokens: lm.navaja.token_ids.length, model: engine.model?.kind };
    }, MINILM_URL, [first, ...Object.keys(others)]);
    assert.equal(r.info.kind, 'embedding');
    assert.equal(r.info.dim, 384);
    assert.equal(r.info.max_batch_tokens, 512);
    assert.equal(r.model, 'llm', 'the language model stays loaded beside the encoder');
    assert.equal(r.lmTokens, 1);
    const best = Object.entries(others).sort((a, b) => b[1] - a[1])[0];
    assert.equal(r.rerank.results[0].document, best[0]);
    assert.ok(Math.abs(r.rerank.results[0].relevance_score - best[1]) <= 0.001, JSON.stringify(r.rerank.results[0]));
    const vectors = r.response.data.map((d) => Array.from(d.embedding));
    assert.equal(vectors.length, 1 + Object.keys(others).length);
    // 12-bit weights and inputs; the reference is rounded to 5 decimals.
    const first5 = MINILM.embedding_first5[first];
    vectors[0].slice(0, 5).forEach((v, i) => assert.ok(Math.abs(v - first5[i]) <= 5e-4, `first values ${vectors[0].slice(0, 5)} vs ${first5}`));
    const dot = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0);
    Object.entries(others).forEach(([text, want], i) => {
      const got = dot(vectors[0], vectors[i + 1]);
      assert.ok(Math.abs(got - want) <= 0.001, `${text}: cosine ${got} vs reference ${want}`);
    });
  });

  test("backend 'auto' picks the CPU on SwiftShader and without WebGPU; 'webgpu' keeps the adapter", async () => {
    const r = await inPage(harness.page, async (navaja) => {
      const auto = await navaja.createEngine({ backend: 'auto', worker: false });
      const gpu = await navaja.createEngine({ worker: false });
      const out = { auto: auto.adapter.backend, gpu: gpu.adapter.backend };
      await auto.dispose();
      await gpu.dispose();
      out.bad = await navaja.createEngine({ backend: 'tpu' }).then(() => 'resolved', (e) => e.code);
      return out;
    });
    assert.equal(r.auto, 'cpu');
    assert.notEqual(r.gpu, 'cpu');
    assert.equal(r.bad, 'invalid-argument');

    const plain = await launchBrowser({ webgpu: false });
    try {
      const page = await openPage(plain, `${server.url}/web/tests/harness.html`);
      const backends = await inPage(page.page, async (navaja) => {
        const auto = await navaja.createEngine({ backend: 'auto' });
        const out = { auto: auto.adapter.backend };
        await auto.dispose();
        out.webgpu = await navaja.createEngine().then(() => 'resolved', (e) => e.code);
        return out;
      });
      assert.deepEqual(backends, { auto: 'cpu', webgpu: 'webgpu-unavailable' });
    } finally {
      await plain.close();
    }
  });
});
