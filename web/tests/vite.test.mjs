// The npm package in a Vite app, installed as a user installs it (a copy in
// node_modules, so Vite pre-bundles it like any dependency): the production
// build and the dev server must both find the Worker and the .wasm, and the
// engine must run in its Worker in Chromium.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, createServer, preview } from 'vite';

import { launchBrowser, openPage } from './browser.mjs';

const PKG = fileURLToPath(new URL('../../pkg/', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/vite-app/', import.meta.url));
const TIMEOUT = 180_000;

async function runApp(browser, url) {
  const { page, errors } = await openPage(browser, url);
  const result = await page.evaluate(() => window.result);
  await page.close();
  return { result, errors: errors.map(String) };
}

function check({ result, errors }) {
  assert.equal(result.error, undefined, result.error);
  assert.equal(result.mode, 'worker');
  const s = 1 / Math.sqrt(12.5);
  assert.ok(Math.abs(result.y[0] - 3 * s) < 1e-6 && Math.abs(result.y[1] - 4 * s) < 1e-6, `${result.y}`);
  assert.deepEqual(errors, []);
}

describe('navaja in a Vite app', { timeout: TIMEOUT }, () => {
  let dir;
  let browser;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'navaja-vite-'));
    cpSync(FIXTURE, join(dir, 'app'), { recursive: true });
    mkdirSync(join(dir, 'node_modules/navaja'), { recursive: true });
    cpSync(join(PKG, 'package.json'), join(dir, 'node_modules/navaja/package.json'));
    cpSync(join(PKG, 'dist'), join(dir, 'node_modules/navaja/dist'), { recursive: true });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const config = () => ({ root: join(dir, 'app'), logLevel: 'error', cacheDir: join(dir, '.vite'), configFile: false });

  test('vite build: the Worker and the .wasm are emitted and the engine runs', async () => {
    const output = await build({ ...config(), base: './', build: { outDir: join(dir, 'dist') } });
    const files = output.output.map((o) => o.fileName);
    assert.ok(files.some((f) => /worker.*\.js$/.test(f)), `no worker chunk in ${files}`);
    assert.ok(files.some((f) => f.endsWith('.wasm')), `no .wasm asset in ${files}`);
    const server = await preview({ ...config(), build: { outDir: join(dir, 'dist') }, preview: { port: 0, host: '127.0.0.1' } });
    try {
      check(await runApp(browser, server.resolvedUrls.local[0]));
    } finally {
      await new Promise((done) => server.httpServer.close(done));
    }
  });

  test('vite dev server: the pre-bundled package finds its Worker and .wasm', async () => {
    const server = await createServer({ ...config(), server: { port: 0, host: '127.0.0.1' } });
    await server.listen();
    try {
      check(await runApp(browser, server.resolvedUrls.local[0]));
    } finally {
      await server.close();
    }
  });
});
