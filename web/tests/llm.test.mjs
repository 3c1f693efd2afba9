// The language model API of the npm package, in headless Chromium on
// SwiftShader WebGPU, with the real SmolLM2-135M-Instruct Q4_1 served from
// this machine. Generated ids are checked against the independent f32
// reference (tests/fixtures/reference), never against navaja's own output.
//
// SwiftShader runs a decode step in 1-3 s on 2 cores: every generation
// here asks for a handful of tokens. The tests share one page and one
// engine (window.engine) and run in order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startServer } from '../../scripts/serve.mjs';
import { inPage, launchBrowser, openPage } from './browser.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODEL_PATH = `${ROOT}models/SmolLM2-135M-Instruct.Q4_1.gguf`;
const MODEL_URL = '/models/SmolLM2-135M-Instruct.Q4_1.gguf';
const REFERENCE = JSON.parse(readFileSync(`${ROOT}tests/fixtures/reference/reference.json`, 'utf8'))['smollm2-135m-instruct-q4_1'];
const MODELS = JSON.parse(readFileSync(`${ROOT}scripts/models.json`, 'utf8')).models;
const SHA256 = MODELS.find((m) => m.path === 'SmolLM2-135M-Instruct.Q4_1.gguf').sha256;
const TIMEOUT = 600_000;
const CUT = 8 << 20; // bytes of the model the broken routes send

/** Broken model files, as servers really hand them out. */
function brokenRoutes() {
  const size = statSync(MODEL_PATH).size;
  const octets = (res, length) =>
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': length, 'Cache-Control': 'no-store' });
  return {
    // A dev server's single-page-app fallback answers any path with its index page.
    '/test/html-instead-of-model.gguf': (req, res) => {
      const html = '<!doctype html><html><head><title>App</title></head><body><div id="root"></div></body></html>\n';
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(html) });
      res.end(html);
    },
    // A damaged header: the metadata count (bytes 16..24) is garbage.
    '/test/corrupt.gguf': (req, res) => {
      octets(res, size);
      const head = Buffer.alloc(65536);
      const fd = readFileSync(MODEL_PATH).subarray(0, 65536);
      fd.copy(head);
      head.fill(0xee, 16, 24);
      res.write(head);
      createReadStream(MODEL_PATH, { start: 65536 }).pipe(res);
    },
    // A file cut short (an interrupted copy): its length says so.
    '/test/truncated.gguf': (req, res) => {
      octets(res, CUT);
      createReadStream(MODEL_PATH, { end: CUT - 1 }).pipe(res);
    },
    // A connection that breaks off: the length promises the whole file.
    '/test/cut-connection.gguf': (req, res) => {
      octets(res, size);
      createReadStream(MODEL_PATH, { end: CUT - 1 })
        .on('end', () => setTimeout(() => res.socket.destroy(), 50))
        .pipe(res, { end: false });
    },
  };
}

describe('the language model API in headless Chromium (SwiftShader WebGPU)', { timeout: TIMEOUT }, () => {
  let server;
  let browser;
  let harness;

  before(async () => {
    assert.ok(existsSync(`${ROOT}pkg/dist/index.js`), 'pkg/dist is missing: build the package first (scripts/build-web.sh)');
    assert.ok(existsSync(MODEL_PATH), `${MODEL_PATH} is missing: run scripts/setup.sh`);
    server = await startServer(0, { routes: brokenRoutes() });
    browser = await launchBrowser();
    harness = await openPage(browser, `${server.url}/web/tests/harness.html`);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('SmolLM2 loads from the local server and greedy-generates the reference ids', async () => {
    const integrity = `sha256-${Buffer.from(SHA256, 'hex').toString('base64')}`;
    const r = await inPage(
      harness.page,
      async (navaja, url, integrity, prompt) => {
        const engine = (window.engine = await navaja.createEngine());
        const phases = [];
        let last;
        const info = await engine.load(url, {
          integrity,
          onProgress: (p) => {
            if (phases.at(-1) !== p.phase) phases.push(p.phase);
            last = p;
          },
        });
        const c = await engine.completions.create({ prompt, max_tokens: 8, temperature: 0 });
        return { mode: engine.mode, info, phases, last, c };
      },
      MODEL_URL,
      integrity,
      REFERENCE.prompt_text,
    );
    const size = statSync(MODEL_PATH).size;
    assert.equal(r.mode, 'worker');
    assert.deepEqual(r.c.navaja.token_ids, REFERENCE.greedy_next_20_ids.slice(0, 8));
    assert.ok(REFERENCE.greedy_text.startsWith(REFERENCE.prompt_text + r.c.choices[0].text), JSON.stringify(r.c.choices[0].text));
    assert.equal(r.c.object, 'text_completion');
    assert.equal(r.c.choices[0].finish_reason, 'length');
    assert.deepEqual(r.c.usage, { prompt_tokens: 4, completion_tokens: 8, total_tokens: 12, prompt_tokens_details: { cached_tokens: 0 } });
    assert.equal(r.info.sha256, SHA256);
    assert.equal(r.info.loaded_from, 'network');
    assert.equal(r.info.architecture, 'llama');
    // The default KV cache: q8 (30 layers x keys and values x 6 blocks of 32 int8 + scales).
    assert.equal(r.info.kv, 'q8');
    assert.ok(r.info.kv_requested == null, 'no kv was asked for');
    assert.equal(r.info.kv_bytes_per_token, 12240);
    assert.deepEqual(r.phases, ['download', 'init', 'ready']);
    assert.deepEqual(r.last, { phase: 'ready', loaded: size, total: size });
    // The file streamed to the GPU: the engine's memory never held it whole.
    assert.ok(r.info.wasm_memory_bytes < size / 2, `${r.info.wasm_memory_bytes} bytes of wasm memory for a ${size}-byte model`);
    console.log(`# load ${r.info.load_ms.toFixed(0)} ms, wasm memory ${r.info.wasm_memory_bytes} bytes; timings ${JSON.stringify(r.c.navaja.timings)}`);
  });

  test('streaming yields chunks before the completion ends', async () => {
    const r = await inPage(harness.page, async (navaja, prompt) => {
      const events = [];
      const stream = await window.engine.completions.create({ prompt, max_tokens: 3, temperature: 0, stream: true });
      for await (const chunk of stream) {
        events.push({ at: performance.now(), text: chunk.choices[0].text, finish: chunk.choices[0].finish_reason, navaja: chunk.navaja });
      }
      return events;
    }, REFERENCE.prompt_text);
    const text = r.filter((e) => e.text);
    const last = r.at(-1);
    assert.ok(text.length >= 2, `text chunks: ${JSON.stringify(r)}`);
    assert.equal(last.finish, 'length');
    assert.deepEqual(last.navaja.token_ids, REFERENCE.greedy_next_20_ids.slice(0, 3));
    assert.ok(REFERENCE.greedy_text.startsWith(REFERENCE.prompt_text + text.map((e) => e.text).join('')));
    // Each chunk arrived when its token was ready, not all at the end.
    assert.ok(text[0].at < last.at - 100, `first chunk at ${text[0].at} ms, end at ${last.at} ms`);
    // The prompt was the same as before: its cached prefix was reused.
    assert.equal(last.navaja.cached_tokens, REFERENCE.prompt_ids.length - 1);
  });

  test('an AbortSignal stops a stream promptly with code aborted, and the next request works', async () => {
    const r = await inPage(harness.page, async (navaja, prompt) => {
      const engine = window.engine;
      const controller = new AbortController();
      const stream = await engine.completions.create({ prompt, max_tokens: 64, temperature: 0, stream: true, signal: controller.signal });
      let chunks = 0;
      let abortedAt = 0;
      let error = null;
      try {
        for await (const chunk of stream) {
          if (chunk.choices[0].text && ++chunks === 2) {
            controller.abort();
            abortedAt = performance.now();
          }
        }
      } catch (e) {
        error = { code: e.code, typed: e instanceof navaja.NavajaError, message: e.message, afterMs: performance.now() - abortedAt };
      }
      // Aborted before it starts, and a whole (non-streamed) request aborted.
      const codeOf = (p) => p.then(() => 'resolved', (e) => `${e instanceof navaja.NavajaError}:${e.code}`);
      const early = await codeOf(engine.completions.create({ prompt, max_tokens: 2, signal: AbortSignal.abort() }));
      const late = new AbortController();
      const whole = codeOf(engine.completions.create({ prompt: prompt + ' in', max_tokens: 64, temperature: 0, signal: late.signal }));
      setTimeout(() => late.abort(), 1500);
      const wholeCode = await whole;
      const next = await engine.completions.create({ prompt, max_tokens: 2, temperature: 0 });
      return { chunks, error, early, whole: wholeCode, next: next.navaja.token_ids };
    }, REFERENCE.prompt_text);
    assert.equal(r.error?.code, 'aborted', JSON.stringify(r));
    assert.equal(r.error.typed, true);
    assert.ok(r.chunks < 10, `${r.chunks} chunks after the abort`);
    // At most the decode step in flight finishes (1-3 s on SwiftShader).
    assert.ok(r.error.afterMs < 15_000, `the stream ended ${r.error.afterMs} ms after the abort`);
    assert.equal(r.early, 'true:aborted');
    assert.equal(r.whole, 'true:aborted');
    assert.deepEqual(r.next, REFERENCE.greedy_next_20_ids.slice(0, 2));
  });

  test('a chat completion renders the chat template and reports usage', async () => {
    const r = await inPage(harness.page, async () => {
      const c = await window.engine.chat.completions.create({
        messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
        max_tokens: 2,
        temperature: 0,
      });
      const ids = await window.engine.tokenize('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
      return { c, ids };
    });
    assert.equal(r.c.object, 'chat.completion');
    assert.equal(r.c.choices[0].message.role, 'assistant');
    assert.equal(typeof r.c.choices[0].message.content, 'string');
    // SmolLM2's template, rendered by navaja, is exactly the ChatML text above.
    assert.equal(r.c.usage.prompt_tokens, r.ids.length);
    assert.equal(r.c.usage.completion_tokens, r.c.navaja.token_ids.length);
  });

  test('tokenize and detokenize match the reference tokenizer', async () => {
    const r = await inPage(harness.page, async (navaja, prompt, ids) => ({
      ids: await window.engine.tokenize(prompt),
      text: await window.engine.detokenize(ids),
    }), REFERENCE.prompt_text, REFERENCE.greedy_next_20_ids);
    assert.deepEqual(r.ids, REFERENCE.prompt_ids);
    assert.ok(REFERENCE.greedy_text.endsWith(r.text), JSON.stringify(r.text));
  });

  test('broken model sources give typed errors and the loaded model stays usable', async () => {
    const wrong = 'sha256-' + Buffer.alloc(32, 7).toString('base64');
    const r = await inPage(harness.page, async (navaja, url, wrong) => {
      const engine = window.engine;
      const fail = (p) =>
        p.then(
          () => ({ code: 'resolved' }),
          (e) => ({ typed: e instanceof navaja.NavajaError, code: e.code, message: e.message }),
        );
      const none = { cache: 'none' };
      const out = {
        missing: await fail(engine.load('/models/no-such-model.gguf', none)),
        html: await fail(engine.load('/test/html-instead-of-model.gguf', none)),
        corrupt: await fail(engine.load('/test/corrupt.gguf', none)),
        truncated: await fail(engine.load('/test/truncated.gguf', none)),
        cut: await fail(engine.load('/test/cut-connection.gguf', none)),
        integrity: await fail(engine.load(url, { ...none, integrity: wrong })),
        badIntegrity: await fail(engine.load(url, { integrity: 'md5-abc' })),
        badKv: await fail(engine.load(url, { kv: 'q3' })),
        badSource: await fail(engine.load(42)),
        noFolder: await fail(engine.load('/models/no-such-folder/', none)),
      };
      const c = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 1, temperature: 0 });
      return { out, after: c.navaja.token_ids, model: engine.model.sha256 };
    }, MODEL_URL, wrong);
    const { out } = r;
    for (const [name, e] of Object.entries(out)) assert.equal(e.typed, true, `${name}: ${JSON.stringify(e)}`);
    assert.equal(out.missing.code, 'network');
    assert.match(out.missing.message, /404/);
    assert.equal(out.html.code, 'model-format');
    assert.match(out.html.message, /not a GGUF file.*HTML page/);
    assert.equal(out.corrupt.code, 'model-format', out.corrupt.message);
    assert.equal(out.truncated.code, 'model-format');
    assert.match(out.truncated.message, /truncated/);
    assert.equal(out.cut.code, 'network');
    assert.match(out.cut.message, /broke off/);
    assert.equal(out.integrity.code, 'integrity');
    assert.match(out.integrity.message, new RegExp(SHA256));
    assert.equal(out.badIntegrity.code, 'invalid-argument');
    assert.equal(out.badKv.code, 'invalid-argument');
    assert.equal(out.badSource.code, 'invalid-argument');
    assert.equal(out.noFolder.code, 'network');
    assert.match(out.noFolder.message, /config\.json/);
    // None of it replaced or broke the model loaded before.
    assert.equal(r.model, SHA256);
    assert.deepEqual(r.after, REFERENCE.greedy_next_20_ids.slice(0, 1));
    for (const [name, e] of Object.entries(out)) console.log(`# ${name}: ${e.code}: ${e.message}`);
  });

  test('a cached model loads again without a network request; an aborted load rejects with aborted', async () => {
    const before = harness.requests.length;
    const r = await inPage(harness.page, async (navaja, url) => {
      const engine = window.engine;
      const info = await engine.load(url);
      const controller = new AbortController();
      const aborted = await engine
        .load(url, { cache: 'none', signal: controller.signal, onProgress: (p) => p.loaded > 0 && controller.abort() })
        .then(() => 'resolved', (e) => `${e instanceof navaja.NavajaError}:${e.code}`);
      return { from: info.loaded_from, aborted, model: engine.model.loaded_from };
    }, MODEL_URL);
    assert.equal(r.from, 'cache');
    assert.equal(r.aborted, 'true:aborted');
    assert.equal(r.model, 'cache', 'the aborted load did not replace the model');
    const modelRequests = harness.requests.slice(before).filter((u) => u.endsWith(MODEL_URL));
    // One request: the aborted load's (cache: 'none'); the cached load made none.
    assert.equal(modelRequests.length, 1, JSON.stringify(modelRequests));
  });

  test('OPFS caching works as an option; a full quota turns caching off with a warning; a damaged cached copy is downloaded again', async () => {
    const warnings = [];
    const onConsole = (m) => m.type() === 'warning' && warnings.push(m.text());
    harness.page.on('console', onConsole);
    const origin = server.url;
    const cdp = await harness.page.context().newCDPSession(harness.page);
    try {
      const opfs = await inPage(harness.page, async (navaja, url) => {
        const first = await window.engine.load(url, { cache: 'opfs' });
        const second = await window.engine.load(url, { cache: 'opfs' });
        return [first.loaded_from, second.loaded_from];
      }, MODEL_URL);
      assert.deepEqual(opfs, ['network', 'cache']);

      // A 1 MB quota: storing the 94 MB model fails; the load must not.
      await inPage(harness.page, async () => caches.delete('navaja-models-v1'));
      await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 1 << 20 });
      const quota = await inPage(harness.page, async (navaja, url) => {
        const info = await window.engine.load(url);
        const stored = await (await caches.open('navaja-models-v1')).match(url);
        const ids = (await window.engine.completions.create({ prompt: 'Once upon a time', max_tokens: 1, temperature: 0 }))
          .navaja.token_ids;
        return { from: info.loaded_from, stored: Boolean(stored), ids };
      }, MODEL_URL);
      assert.deepEqual(quota, { from: 'network', stored: false, ids: REFERENCE.greedy_next_20_ids.slice(0, 1) });
      assert.ok(warnings.some((w) => /navaja: storing the model failed/.test(w)), JSON.stringify(warnings));
      await cdp.send('Storage.overrideQuotaForOrigin', { origin });

      // A damaged cached copy is dropped and downloaded again, and the good copy cached.
      const damaged = await inPage(harness.page, async (navaja, url) => {
        const cache = await caches.open('navaja-models-v1');
        await cache.put(url, new Response(new Uint8Array(4096).fill(7)));
        const again = await window.engine.load(url);
        const stored = await cache.match(url);
        return { from: again.loaded_from, size: Number(stored?.headers.get('Content-Length')) };
      }, MODEL_URL);
      assert.deepEqual(damaged, { from: 'network', size: statSync(MODEL_PATH).size });
      assert.ok(warnings.some((w) => /the cached copy of .* cannot be used/.test(w)), JSON.stringify(warnings));
    } finally {
      await cdp.send('Storage.overrideQuotaForOrigin', { origin });
      harness.page.off('console', onConsole);
    }
  });

  test('Blobs, ArrayBuffers and ReadableStreams load too, in the worker and on the main thread', async () => {
    const r = await inPage(harness.page, async (navaja, url, prompt) => {
      const greedy = async (engine) =>
        (await engine.completions.create({ prompt, max_tokens: 1, temperature: 0 })).navaja.token_ids;
      const worker = window.engine;
      const fromBlob = await worker.load(await (await fetch(url)).blob());
      const blobIds = await greedy(worker);
      const fromStream = await worker.load((await fetch(url)).body);
      const streamIds = await greedy(worker);
      const main = await navaja.createEngine({ worker: false });
      const buffer = await (await fetch(url)).arrayBuffer();
      const fromBuffer = await main.load(buffer, { contextLength: 16 });
      const bufferIds = await greedy(main);
      const code = (p) => p.then(() => 'resolved', (e) => `${e instanceof navaja.NavajaError}:${e.code}`);
      const overflow = await code(main.completions.create({ prompt: prompt.repeat(4), max_tokens: 4 }));
      await main.unload();
      const unloaded = await code(main.completions.create({ prompt, max_tokens: 1 }));
      await main.dispose();
      const disposed = await code(main.completions.create({ prompt, max_tokens: 1 }));
      return {
        mode: main.mode,
        from: [fromBlob.loaded_from, fromStream.loaded_from, fromBuffer.loaded_from],
        sha: [fromBlob.sha256, fromStream.sha256, fromBuffer.sha256],
        ids: [blobIds, streamIds, bufferIds],
        context: fromBuffer.context_length,
        overflow,
        unloaded,
        disposed,
      };
    }, MODEL_URL, REFERENCE.prompt_text);
    assert.equal(r.mode, 'main-thread');
    assert.deepEqual(r.from, ['memory', 'memory', 'memory']);
    assert.deepEqual(r.sha, [SHA256, SHA256, SHA256]);
    const first = REFERENCE.greedy_next_20_ids.slice(0, 1);
    assert.deepEqual(r.ids, [first, first, first]);
    assert.equal(r.context, 16);
    assert.equal(r.overflow, 'true:context-overflow');
    assert.equal(r.unloaded, 'true:invalid-argument');
    assert.equal(r.disposed, 'true:disposed');
  });

  test('MiniLM embeddings match the reference cosine similarities within 0.002, beside the loaded language model', async () => {
    const ref = JSON.parse(readFileSync(`${ROOT}tests/fixtures/reference/reference.json`, 'utf8'))['all-minilm-l6-v2'];
    const { first, ...others } = ref.cosine_with_first;
    const r = await inPage(harness.page, async (navaja, texts, prompt) => {
      const engine = window.engine;
      const before = await engine.embeddings.create({ input: 'x' }).then(() => 'resolved', (e) => `${e instanceof navaja.NavajaError}:${e.code}`);
      const info = await engine.load('/models/all-MiniLM-L6-v2/');
      const vectors = (await engine.embeddings.create({ input: texts })).data.map((d) => d.embedding);
      // Both models at once: the language model still generates.
      const c = await engine.completions.create({ prompt, max_tokens: 2, temperature: 0 });
      return { before, info, llm: engine.model.kind, vectors, ids: c.navaja.token_ids };
    }, [first, ...Object.keys(others)], REFERENCE.prompt_text);
    assert.equal(r.before, 'true:invalid-argument', 'no embedding model yet');
    assert.equal(r.info.kind, 'embedding');
    assert.equal(r.llm, 'llm');
    const cos = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0);
    Object.values(others).forEach((want, i) => assert.ok(Math.abs(cos(r.vectors[0], r.vectors[i + 1]) - want) <= 0.002));
    assert.deepEqual(r.ids, REFERENCE.greedy_next_20_ids.slice(0, 2));
  });

  // Last: it destroys the engine's device.
  test('a lost GPU device is reported as device-lost, not a hang', async () => {
    const r = await inPage(harness.page, async (navaja, url, prompt) => {
      const engine = window.engine;
      const code = (p) => p.then(() => 'resolved', (e) => `${e instanceof navaja.NavajaError}:${e.code}`);
      const stream = await engine.completions.create({ prompt, max_tokens: 64, temperature: 0, stream: true });
      let chunks = 0;
      let during = 'ended normally';
      try {
        for await (const chunk of stream) {
          if (chunk.choices[0].text && ++chunks === 1) await engine._loseDeviceForTesting();
        }
      } catch (e) {
        during = `${e instanceof navaja.NavajaError}:${e.code}`;
      }
      return {
        chunks,
        during,
        next: await code(engine.completions.create({ prompt, max_tokens: 1 })),
        load: await code(engine.load(url, { cache: 'none' })),
      };
    }, MODEL_URL, REFERENCE.prompt_text);
    assert.equal(r.during, 'true:device-lost', JSON.stringify(r));
    assert.ok(r.chunks < 64);
    assert.equal(r.next, 'true:device-lost');
    assert.equal(r.load, 'true:device-lost');
  });
});
