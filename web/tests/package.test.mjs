// The npm package as published: every export resolves to a built file with
// its types, the Worker and the .wasm sit beside the JavaScript, and the
// download stays within budget (1.5 MB gzipped, .wasm and JavaScript).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const PKG = fileURLToPath(new URL('../../pkg/', import.meta.url));
const BUDGET = 1.5e6;

test('the package exports resolve to built files with types', () => {
  const pkg = JSON.parse(readFileSync(`${PKG}package.json`, 'utf8'));
  assert.equal(pkg.type, 'module');
  for (const [name, target] of Object.entries(pkg.exports)) {
    const files = typeof target === 'string' ? [target] : Object.values(target);
    for (const file of files) assert.ok(existsSync(`${PKG}${file}`), `${name}: ${file} is missing (build with scripts/build-web.sh)`);
  }
  assert.ok(existsSync(`${PKG}dist/worker.js`), 'the Worker script ships beside index.js');
  assert.ok(existsSync(`${PKG}dist/wasm/navaja_web_bg.wasm`));
});

test('the .wasm and the JavaScript stay under 1.5 MB gzipped', () => {
  const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;
  const js = [
    ...readdirSync(`${PKG}dist`).filter((f) => f.endsWith('.js')).map((f) => `${PKG}dist/${f}`),
    `${PKG}dist/wasm/navaja_web.js`,
  ];
  const wasm = gz(`${PKG}dist/wasm/navaja_web_bg.wasm`);
  const script = js.reduce((sum, f) => sum + gz(f), 0);
  console.log(`# gzipped: wasm ${wasm} bytes, JavaScript ${script} bytes (${js.length} files), total ${wasm + script}`);
  assert.ok(wasm + script < BUDGET, `${wasm + script} bytes gzipped`);
});
