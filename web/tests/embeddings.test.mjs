// Embeddings and rerank of the npm package, in headless Chromium on
// SwiftShader WebGPU, with the real all-MiniLM-L6-v2 (a sentence-transformers
// safetensors folder) served from this machine. Values are checked against
// the independent numpy reference (tests/fixtures/reference), never against
// navaja's own output. The tests share one page and run in order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startServer } from '../../scripts/serve.mjs';
import { inPage, launchBrowser, openPage } from './browser.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MINILM = `${ROOT}models/all-MiniLM-L6-v2/`;
const MINILM_URL = '/models/all-MiniLM-L6-v2/';
const REFERENCE = JSON.parse(readFileSync(`${ROOT}tests/fixtures/reference/reference.json`, 'utf8'))['all-minilm-l6-v2'];
const TIMEOUT = 600_000;

/** A MiniLM folder whose model.safetensors has a damaged header (its JSON). */
function brokenRoutes() {
  const file = (name, type) => (req, res) => {
    const body = readFileSync(`${MINILM}${name}`);
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-store' });
    res.end(body);
  };
  return {
    '/test/corrupt-minilm/config.json': file('config.json', 'application/json'),
    '/test/corrupt-minilm/tokenizer.json': file('tokenizer.json', 'application/json'),
    '/test/corrupt-minilm/model.safetensors': (req, res) => {
      const body = readFileSync(`${MINILM}model.safetensors`);
      body.fill(0xee, 8, 64); // the start of the JSON header
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
      res.end(body);
    },
  };
}

const dot = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0);

describe('embeddings and rerank in headless Chromium (SwiftShader WebGPU)', { timeout: TIMEOUT }, () => {
  let server;
  let browser;
  let harness;

  before(async () => {
    assert.ok(existsSync(`${ROOT}pkg/dist/index.js`), 'pkg/dist is missing: build the package first (scripts/build-web.sh)');
    assert.ok(existsSync(`${MINILM}model.safetensors`), `${MINILM} is missing: run scripts/setup.sh`);
    server = await startServer(0, { routes: brokenRoutes() });
    browser = await launchBrowser();
    harness = await openPage(browser, `${server.url}/web/tests/harness.html`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('MiniLM embeddings match the reference cosine similarities within 0.002', async () => {
    const { first, ...others } = REFERENCE.cosine_with_first;
    const r = await inPage(harness.page, async (navaja, url, texts) => {
      const engine = (window.engine = await navaja.createEngine());
      const info = await engine.load(url, { cache: 'none' });
      const start = performance.now();
      const response = await engine.embeddings.create({ input: texts });
      return { info, embeddingModel: engine.embeddingModel, model: engine.model, response, ms: performance.now() - start };
    }, MINILM_URL, [first, ...Object.keys(others)]);
    const { info, response } = r;
    assert.equal(info.kind, 'embedding');
    assert.equal(info.format, 'safetensors');
    assert.equal(info.name, 'all-MiniLM-L6-v2');
    assert.equal(info.dim, 384);
    assert.equal(info.pooling, 'mean');
    assert.equal(info.normalized, true);
    assert.equal(info.max_tokens, 256, 'sentence_bert_config.json: max_seq_length');
    assert.equal(info.reranker, false);
    assert.equal(info.sha256, REFERENCE.model_sha256);
    assert.equal(info.loaded_from, 'network');
    assert.deepEqual(r.embeddingModel, info);
    assert.equal(r.model, null, 'an embedding model does not take the language model slot');

    assert.equal(response.object, 'list');
    assert.equal(response.data.length, 4);
    const vectors = response.data.map((d, i) => {
      assert.equal(d.index, i);
      assert.equal(d.embedding.length, 384);
      return d.embedding;
    });
    for (const v of vectors) assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-4, 'unit length');
    REFERENCE.embedding_first5[first].forEach((want, i) => assert.ok(Math.abs(vectors[0][i] - want) < 2e-3, `[${i}] ${vectors[0][i]} vs ${want}`));
    assert.equal(response.usage.prompt_tokens >= REFERENCE.tokens[first].length, true);
    Object.entries(others).forEach(([text, want], i) => {
      const got = dot(vectors[0], vectors[i + 1]);
      console.log(`# cosine(${JSON.stringify(first)}, ${JSON.stringify(text)}) = ${got.toFixed(4)} (reference ${want})`);
      assert.ok(Math.abs(got - want) <= 0.002, `${text}: ${got} vs ${want}`);
    });
    console.log(
      `# MiniLM: loaded in ${info.load_ms.toFixed(0)} ms (wasm memory ${info.wasm_memory_bytes} bytes); 4 texts ` +
        `(${response.usage.prompt_tokens} tokens) in ${r.ms.toFixed(0)} ms: ${(4 / (r.ms / 1000)).toFixed(1)} texts/s`,
    );
  });

  test('one text alone gets its reference tokens and the same vector as in a batch', async () => {
    const first = REFERENCE.cosine_with_first.first;
    const r = await inPage(harness.page, async (navaja, text) => {
      const e = await window.engine.embeddings.create({ input: text });
      const batch = await window.engine.embeddings.create({ input: ['The new movie is awesome.', text] });
      return { alone: e.data[0].embedding, inBatch: batch.data[1].embedding, tokens: e.usage.prompt_tokens };
    }, first);
    assert.equal(r.tokens, REFERENCE.tokens[first].length);
    assert.ok(dot(r.alone, r.inBatch) > 0.99999);
  });

  test('rerank ranks documents by cosine similarity with an embedding model', async () => {
    const r = await inPage(harness.page, async () =>
      window.engine.rerank({
        query: 'A man is eating food.',
        documents: ['The new movie is awesome.', 'A man is eating a piece of bread.', 'A monkey is playing drums.'],
        top_n: 2,
      }),
    );
    assert.equal(r.object, 'list');
    assert.deepEqual(r.results.map((x) => x.index), [1, 2]);
    assert.equal(r.results[0].document, 'A man is eating a piece of bread.');
    assert.ok(Math.abs(r.results[0].relevance_score - REFERENCE.cosine_with_first['A man is eating a piece of bread.']) <= 0.002);
    assert.ok(r.usage.prompt_tokens > 0);
  });

  test('many texts embed in several engine calls, in input order', async () => {
    // Short texts (SwiftShader runs MiniLM at some 25 tokens/s): more than one
    // engine call's worth (64 texts), so an abort is noticed between calls.
    const r = await inPage(harness.page, async () => {
      const texts = Array.from({ length: 70 }, (_, i) => `topic ${i}`);
      const start = performance.now();
      const e = await window.engine.embeddings.create({ input: texts });
      const ms = performance.now() - start;
      const again = await window.engine.embeddings.create({ input: texts[66] });
      const same = e.data[66].embedding.reduce((s, v, i) => s + v * again.data[0].embedding[i], 0);
      const controller = new AbortController();
      const aborted = window.engine.embeddings.create({ input: texts, signal: controller.signal }).then(() => 'resolved', (err) => err.code);
      controller.abort();
      return { n: e.data.length, index: e.data[69].index, ms, same, tokens: e.usage.prompt_tokens, aborted: await aborted };
    });
    assert.equal(r.n, 70);
    assert.equal(r.index, 69);
    assert.ok(r.same > 0.99999, `${r.same}`);
    assert.equal(r.aborted, 'aborted');
    console.log(`# 70 short texts (${r.tokens} tokens) in ${r.ms.toFixed(0)} ms: ${(70 / (r.ms / 1000)).toFixed(1)} texts/s on SwiftShader`);
  });

  test('bad inputs give typed errors and the embedding model stays usable', async () => {
    const r = await inPage(harness.page, async (navaja) => {
      const engine = window.engine;
      const fail = (p) =>
        p.then(
          () => ({ code: 'resolved' }),
          (e) => ({ typed: e instanceof navaja.NavajaError, code: e.code, message: e.message }),
        );
      const none = { cache: 'none' };
      const out = {
        corrupt: await fail(engine.load('/test/corrupt-minilm/', none)),
        noFolder: await fail(engine.load('/models/no-such-model/', none)),
        emptyInput: await fail(engine.embeddings.create({ input: [] })),
        notText: await fail(engine.embeddings.create({ input: [42] })),
        generate: await fail(engine.completions.create({ prompt: 'Hello', max_tokens: 1 })),
      };
      const after = await engine.embeddings.create({ input: 'A man is eating food.' });
      return { out, sha256: engine.embeddingModel.sha256, after: after.data[0].embedding.slice(0, 5) };
    });
    const { out } = r;
    for (const [name, e] of Object.entries(out)) {
      console.log(`# ${name}: ${e.code}: ${e.message}`);
      assert.equal(e.typed, true, `${name}: ${JSON.stringify(e)}`);
    }
    assert.equal(out.corrupt.code, 'model-format');
    assert.equal(out.noFolder.code, 'network');
    assert.match(out.noFolder.message, /config\.json/);
    assert.equal(out.emptyInput.code, 'invalid-argument');
    assert.equal(out.notText.code, 'invalid-argument');
    assert.equal(out.generate.code, 'invalid-argument', 'no language model is loaded');
    assert.equal(r.sha256, REFERENCE.model_sha256, 'the failed loads did not replace the model');
    REFERENCE.embedding_first5['A man is eating food.'].forEach((want, i) => assert.ok(Math.abs(r.after[i] - want) < 2e-3));
  });

  test('on the main thread, from the cache the second time; unload frees the slot', async () => {
    const r = await inPage(harness.page, async (navaja, url) => {
      const engine = await navaja.createEngine({ worker: false });
      const first = await engine.load(url);
      const second = await engine.load(url);
      const e = await engine.embeddings.create({ input: 'A man is eating food.' });
      await engine.unload('embedding');
      const unloaded = await engine.embeddings.create({ input: 'x' }).then(() => 'resolved', (err) => err.code);
      await engine.dispose();
      return { mode: engine.mode, from: [first.loaded_from, second.loaded_from], head: e.data[0].embedding.slice(0, 5), unloaded };
    }, MINILM_URL);
    assert.equal(r.mode, 'main-thread');
    assert.deepEqual(r.from, ['network', 'cache']);
    REFERENCE.embedding_first5['A man is eating food.'].forEach((want, i) => assert.ok(Math.abs(r.head[i] - want) < 2e-3));
    assert.equal(r.unloaded, 'invalid-argument');
    // The only console errors: the browser's notes on the 404s asked for above.
    assert.deepEqual(harness.errors.filter((e) => !/Failed to load resource.*404/.test(e.message)), []);
  });
});
