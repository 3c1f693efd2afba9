// Gemma 3 270M Q4_K_M (K-quants, a 262k vocabulary whose tied LM head is
// split across bindings, sliding-window layers) through the public API in
// headless Chromium on SwiftShader WebGPU, checked against the independent
// f32 reference's greedy ids (tests/fixtures/reference).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startServer } from '../../scripts/serve.mjs';
import { inPage, launchBrowser, openPage } from './browser.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODEL_PATH = `${ROOT}models/gemma-3-270m-q4_k_m.gguf`;
const MODEL_URL = '/models/gemma-3-270m-q4_k_m.gguf';
const REFERENCE = JSON.parse(readFileSync(`${ROOT}tests/fixtures/reference/reference.json`, 'utf8'))['gemma-3-270m-q4_k_m'];

describe('Gemma 3 in headless Chromium (SwiftShader WebGPU)', { timeout: 600_000 }, () => {
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

  test('loads the Q4_K_M file and greedy-generates the reference ids (BOS added as its metadata says)', async () => {
    const r = await inPage(
      harness.page,
      async (navaja, url, prompt, n) => {
        const engine = await navaja.createEngine();
        const info = await engine.load(url, { cache: 'none' });
        const tokens = await engine.tokenize(prompt, { addSpecial: true });
        const c = await engine.completions.create({ prompt, max_tokens: n, temperature: 0 });
        await engine.dispose();
        return { info, tokens, c };
      },
      MODEL_URL,
      REFERENCE.prompt_text,
      REFERENCE.greedy_next_16_ids.length,
    );
    assert.equal(r.info.architecture, 'gemma3');
    assert.deepEqual(Array.from(r.tokens), REFERENCE.prompt_ids);
    assert.deepEqual(r.c.navaja.token_ids, REFERENCE.greedy_next_16_ids);
    assert.equal(r.c.usage.prompt_tokens, REFERENCE.prompt_ids.length);
    // No uncaught error in the page (the harness page has no favicon: its 404 is not the engine's).
    assert.deepEqual(harness.errors.filter((e) => !/Failed to load resource/.test(e.message)), []);
    console.log(`# gemma3: load ${r.info.load_ms?.toFixed(0)} ms, kv ${r.info.kv}; timings ${JSON.stringify(r.c.navaja.timings)}`);
  });
});
