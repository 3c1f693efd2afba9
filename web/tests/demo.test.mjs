// The demo pages as a user meets them (web/demo, what `make demo` serves),
// in headless Chromium on SwiftShader WebGPU: the chat page downloads and
// caches SmolLM2, then after a reload answers a message from the cache.
// Every request of the page and its Worker is recorded: nothing may leave
// the page's origin, and the reloaded chat turn may fetch only the page's
// own files. The longest main-thread task during the turn is measured. The
// private-search page embeds paragraphs with all-MiniLM-L6-v2 and must rank
// the relevant one first without a request for the text.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startServer } from '../../scripts/serve.mjs';
import { launchBrowser } from './browser.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCREENSHOT_DIR = `${ROOT}target/screenshots`;
const TIMEOUT = 600_000;

/** Page assets: what the demo itself is made of. */
function isPageAsset(url, origin) {
  const { pathname } = new URL(url);
  return url.startsWith(origin) && (pathname.startsWith('/web/demo/') || pathname.startsWith('/pkg/dist/'));
}

describe('the demo pages in headless Chromium (SwiftShader WebGPU)', { timeout: TIMEOUT }, () => {
  let server;
  let browser;
  let context;
  const requests = [];
  const errors = [];

  before(async () => {
    assert.ok(existsSync(`${ROOT}pkg/dist/index.js`), 'pkg/dist is missing: build the package first (scripts/build-web.sh)');
    server = await startServer(0);
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
    // Context-wide: the page's requests and its Worker's.
    context.on('request', (r) => requests.push(r.url()));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the chat demo answers offline from the cache, streams, keeps the main thread free and stays on its origin', async () => {
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    const demo = `${server.url}/web/demo/`;
    const ready = () => page.waitForFunction(() => window.navajaDemo?.ready || window.navajaDemo?.error, null, { timeout: TIMEOUT });

    // First visit: the model is downloaded (by the Worker) and cached.
    await page.goto(demo);
    await ready();
    const first = await page.evaluate(() => window.navajaDemo);
    assert.equal(first.error, null, JSON.stringify(first.error));
    assert.equal(first.model.loaded_from, 'network');
    assert.ok(requests.some((u) => u.endsWith('/models/SmolLM2-135M-Instruct.Q4_1.gguf')), 'the recorder sees the Worker\'s download');

    // Second visit: from the cache. From here on, only the page's own files may be fetched.
    const firstVisit = requests.length;
    await page.reload();
    await ready();
    const second = await page.evaluate(() => window.navajaDemo);
    assert.equal(second.error, null, JSON.stringify(second.error));
    assert.equal(second.model.loaded_from, 'cache');
    assert.match(await page.textContent('#status'), /Ready \(from this browser's cache/);

    // Watch the main thread during the turn: long tasks (>= 50 ms) and the
    // largest gap between 10 ms timer ticks.
    await page.evaluate(() => {
      const watch = (window.mainThread = { longest: 0, longTasks: 0, maxGap: 0 });
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          watch.longTasks += 1;
          watch.longest = Math.max(watch.longest, e.duration);
        }
      }).observe({ type: 'longtask' });
      let last = performance.now();
      watch.timer = setInterval(() => {
        const now = performance.now();
        watch.maxGap = Math.max(watch.maxGap, now - last);
        last = now;
      }, 10);
    });
    await page.click('#settings summary');
    await page.fill('#system', 'Be brief.');
    await page.fill('#max-tokens', '7');
    await page.fill('#temperature', '0');
    await page.click('#settings summary');
    await page.fill('#prompt', 'What is the capital of France?');
    await page.click('#send');
    await page.waitForFunction(() => window.navajaDemo.turns.length === 1, null, { timeout: TIMEOUT });
    const turn = await page.evaluate(() => window.navajaDemo.turns[0]);
    const main = await page.evaluate(() => {
      clearInterval(window.mainThread.timer);
      return window.mainThread;
    });
    assert.equal(turn.error, null, JSON.stringify(turn.error));
    assert.ok(['length', 'stop'].includes(turn.finish), turn.finish);
    assert.ok(turn.chunks >= 2, `streamed in ${turn.chunks} chunks`);
    assert.match(turn.text, /Paris/);
    assert.match(await page.textContent('#messages li.assistant'), /Paris/);
    assert.match(await page.textContent('#stats'), /\d+ tokens · [\d.]+ tokens\/s · prompt \d+ tokens/);

    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: `${SCREENSHOT_DIR}/demo-chat.png`, fullPage: true });
    if (process.env.NAVAJA_UPDATE_SCREENSHOT) copyFileSync(`${SCREENSHOT_DIR}/demo-chat.png`, `${ROOT}docs/demo-chat.png`);

    // The reload and the whole turn fetched nothing but the page's own files;
    // no request ever left the page's origin.
    const secondVisit = requests.slice(firstVisit);
    assert.deepEqual(secondVisit.filter((u) => !isPageAsset(u, server.url)), [], 'requests beyond the page assets');
    assert.deepEqual(requests.filter((u) => !u.startsWith(server.url)), [], 'requests to other origins');
    assert.ok(main.longest < 200, `a ${main.longest} ms main-thread task during generation`);
    console.log(
      `# chat turn: ${JSON.stringify(turn.usage)} ${JSON.stringify(turn.timings)}; main thread: longest task ` +
        `${main.longest.toFixed(0)} ms (${main.longTasks} tasks >= 50 ms), largest timer gap ${main.maxGap.toFixed(0)} ms; ` +
        `${secondVisit.length} requests on the second visit`,
    );

    // The stop button ends the next answer early and the page stays usable.
    await page.click('#settings summary');
    await page.fill('#max-tokens', '64');
    await page.click('#settings summary');
    await page.fill('#prompt', 'Tell me about it.');
    await page.click('#send');
    await page.waitForFunction(() => document.querySelectorAll('#messages li.assistant')[1]?.textContent.length > 0, null, {
      timeout: TIMEOUT,
    });
    await page.click('#stop');
    await page.waitForFunction(() => window.navajaDemo.turns.length === 2, null, { timeout: TIMEOUT });
    const stopped = await page.evaluate(() => window.navajaDemo.turns[1]);
    assert.equal(stopped.finish, 'aborted');
    assert.ok(stopped.chunks < 64);
    assert.equal(await page.evaluate(() => document.querySelectorAll('#messages li.assistant')[1].dataset.note), 'stopped');
    assert.equal(await page.isDisabled('#send'), false);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the private-search page ranks pasted paragraphs by meaning with MiniLM, offline from the cache after a reload, and stays on its origin', async () => {
    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
    const before = requests.length;
    await page.goto(`${server.url}/web/demo/search.html`);
    await page.waitForFunction(() => window.navajaSearch?.ranks > 0 || window.navajaSearch?.error, null, { timeout: TIMEOUT });
    const first = await page.evaluate(() => window.navajaSearch);
    assert.equal(first.error, null, JSON.stringify(first.error));
    // "How do plants make food?": the photosynthesis paragraph, which shares no word with it, ranks first.
    assert.match(first.results[0].document, /^Photosynthesis/, JSON.stringify(first.results));
    assert.equal(first.results.length, 4);
    assert.ok(first.results[0].relevance_score > first.results[1].relevance_score + 0.1, JSON.stringify(first.results));
    assert.match(await page.textContent('#results li:first-child'), /Photosynthesis/);
    assert.ok(requests.slice(before).some((u) => u.endsWith('/models/all-MiniLM-L6-v2/model.safetensors')), 'the Worker downloads MiniLM');

    // A new question and a new paragraph: ranking fetches nothing at all.
    const loaded = requests.length;
    await page.fill('#paragraphs', `${await page.inputValue('#paragraphs')}\n\nMy grandmother's recipe uses flour, butter and apples.`);
    await page.fill('#query', 'Which landmark is in France?');
    await page.click('#rank');
    await page.waitForFunction(() => window.navajaSearch.ranks === 2, null, { timeout: TIMEOUT });
    const second = await page.evaluate(() => window.navajaSearch);
    assert.match(second.results[0].document, /^The Eiffel Tower/, JSON.stringify(second.results));
    assert.equal(second.results.length, 5);
    assert.match(await page.textContent('#status'), /Ranked 5 paragraphs in \d+ ms/);
    assert.deepEqual(requests.slice(loaded), [], 'ranking made requests');
    console.log(`# search: ${await page.textContent('#status')}`);

    // Again after a reload: MiniLM (weights and text files) comes from the cache; only page assets are fetched.
    const reloaded = requests.length;
    await page.reload();
    await page.waitForFunction(() => window.navajaSearch?.ranks > 0 || window.navajaSearch?.error, null, { timeout: TIMEOUT });
    const third = await page.evaluate(() => window.navajaSearch);
    assert.equal(third.error, null, JSON.stringify(third.error));
    assert.equal(third.loadedFrom, 'cache');
    assert.match(third.results[0].document, /^Photosynthesis/);
    assert.deepEqual(requests.slice(reloaded).filter((u) => !isPageAsset(u, server.url)), [], 'requests beyond the page assets');
    assert.deepEqual(requests.filter((u) => !u.startsWith(server.url)), [], 'requests to other origins');
    assert.deepEqual(pageErrors, []);
    await page.close();
  });
});
