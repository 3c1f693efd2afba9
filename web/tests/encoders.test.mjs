// BERT-family encoders from GGUF files and cross-encoder reranking in the
// npm package, in headless Chromium on SwiftShader WebGPU. The files are
// written by `cargo run -p navaja-core --example web_encoder_fixtures`
// (tiny random models with navaja's CPU reference outputs, and
// all-MiniLM-L6-v2 converted to an F16 GGUF, checked against the independent
// numpy reference). embeddings.test.mjs covers the safetensors folder path.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startServer } from '../../scripts/serve.mjs';
import { inPage, launchBrowser, openPage } from './browser.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = 'target/web-fixtures';
const REFERENCE = JSON.parse(readFileSync(`${ROOT}tests/fixtures/reference/reference.json`, 'utf8'))['all-minilm-l6-v2'];
const TIMEOUT = 600_000;

const dot = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0);
const cosine = (a, b) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));

describe('GGUF encoders and cross-encoders in headless Chromium (SwiftShader WebGPU)', { timeout: TIMEOUT }, () => {
  let server;
  let browser;
  let harness;
  let expected;

  before(async () => {
    assert.ok(existsSync(`${ROOT}pkg/dist/index.js`), 'pkg/dist is missing: build the package first (scripts/build-web.sh)');
    // Incremental after `cargo test --workspace` (which builds the examples); a cold build takes minutes.
    execFileSync('cargo', ['run', '-q', '-p', 'navaja-core', '--example', 'web_encoder_fixtures', '--', FIXTURES], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: TIMEOUT,
    });
    expected = JSON.parse(readFileSync(`${ROOT}${FIXTURES}/expected.json`, 'utf8'));
    server = await startServer(0);
    browser = await launchBrowser();
    harness = await openPage(browser, `${server.url}/web/tests/harness.html`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('a GGUF bert file is told from a language model by its header and embeds like the CPU reference', async () => {
    const r = await inPage(harness.page, async (navaja, url, texts) => {
      const engine = (window.engine = await navaja.createEngine());
      const info = await engine.load(url, { cache: 'none' });
      const e = await engine.embeddings.create({ input: texts });
      return { info, model: engine.model, vectors: e.data.map((d) => d.embedding) };
    }, `/${FIXTURES}/tiny-embedder.gguf`, expected.texts);
    assert.equal(r.info.kind, 'embedding');
    assert.equal(r.info.format, 'gguf');
    assert.equal(r.info.architecture, 'bert');
    assert.equal(r.info.reranker, false);
    assert.equal(r.info.pooling, expected.embedder.pooling);
    assert.equal(r.info.normalized, expected.embedder.normalized);
    assert.equal(r.info.max_tokens, expected.embedder.max_tokens);
    assert.equal(r.model, null);
    r.vectors.forEach((v, i) => {
      const c = cosine(v, expected.embedder.embeddings[i]);
      assert.ok(c > 0.9999, `${expected.texts[i]}: cosine ${c} with the CPU reference`);
    });
  });

  test('a cross-encoder (GGUF) reranks with its own scores; embedding with it is unsupported-model', async () => {
    const r = await inPage(harness.page, async (navaja, url, query, documents) => {
      const engine = window.engine;
      const info = await engine.load(url, { cache: 'none' });
      const ranked = await engine.rerank({ query, documents });
      const embed = await engine.embeddings.create({ input: 'x' }).then(() => 'resolved', (e) => `${e instanceof navaja.NavajaError}:${e.code}`);
      return { info, ranked, embed };
    }, `/${FIXTURES}/tiny-reranker.gguf`, expected.query, expected.documents);
    assert.equal(r.info.kind, 'embedding');
    assert.equal(r.info.reranker, true);
    assert.equal(r.embed, 'true:unsupported-model');
    const want = expected.reranker.gguf_scores;
    const order = want.map((_, i) => i).sort((a, b) => want[b] - want[a]);
    assert.deepEqual(r.ranked.results.map((x) => x.index), order);
    for (const x of r.ranked.results) {
      assert.equal(x.document, expected.documents[x.index]);
      const w = want[x.index];
      assert.ok(Math.abs(x.relevance_score - w) < 2e-4 * (1 + Math.abs(w)), `${x.document}: ${x.relevance_score} vs ${w}`);
    }
    assert.ok(r.ranked.usage.prompt_tokens > 0);
  });

  test('a cross-encoder from a safetensors folder (BertForSequenceClassification) reranks the same way', async () => {
    const r = await inPage(harness.page, async (navaja, url, query, documents) => {
      const info = await window.engine.load(url, { cache: 'none' });
      return { info, ranked: await window.engine.rerank({ query, documents, top_n: 2 }) };
    }, `/${FIXTURES}/tiny-reranker/`, expected.query, expected.documents);
    assert.equal(r.info.format, 'safetensors');
    assert.equal(r.info.reranker, true);
    assert.equal(r.ranked.results.length, 2);
    for (const x of r.ranked.results) {
      const w = expected.reranker.folder_scores[x.index];
      assert.ok(Math.abs(x.relevance_score - w) < 2e-4 * (1 + Math.abs(w)), `${x.document}: ${x.relevance_score} vs ${w}`);
    }
  });

  test('all-MiniLM-L6-v2 as an F16 GGUF matches the reference cosine similarities within 0.002', async (t) => {
    if (!existsSync(`${ROOT}${FIXTURES}/minilm-f16.gguf`)) {
      assert.fail('minilm-f16.gguf was not written: models/all-MiniLM-L6-v2 or models/llama-vocab is missing (scripts/setup.sh)');
    }
    const { first, ...others } = REFERENCE.cosine_with_first;
    const r = await inPage(harness.page, async (navaja, url, texts) => {
      const info = await window.engine.load(url, { cache: 'none' });
      const e = await window.engine.embeddings.create({ input: texts });
      return { info, vectors: e.data.map((d) => d.embedding) };
    }, `/${FIXTURES}/minilm-f16.gguf`, [first, ...Object.keys(others)]);
    assert.equal(r.info.format, 'gguf');
    assert.equal(r.info.dim, 384);
    assert.equal(r.info.normalized, true);
    Object.entries(others).forEach(([text, want], i) => {
      const got = dot(r.vectors[0], r.vectors[i + 1]);
      t.diagnostic(`${text}: ${got.toFixed(4)} (reference ${want})`);
      assert.ok(Math.abs(got - want) <= 0.002, `${text}: ${got} vs ${want}`);
    });
  });
});
