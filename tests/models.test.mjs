// The set-up placed the real model files of scripts/models.json in models/,
// intact: each sha256 is recomputed here, independently of the fetch script.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(ROOT, 'scripts/models.json'), 'utf8'));
const MODELS = process.env.NAVAJA_MODELS_DIR ?? join(ROOT, 'models');

async function sha256(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

// Models with a `group` (the benchmark-only ones) are fetched by their own
// command (`fetch_models.py --group bench`, run by `make bench`), not by the
// set-up that precedes the tests, so they are checked where they are used.
const SET_UP_MODELS = manifest.models.filter((m) => m.group === undefined);

for (const model of SET_UP_MODELS) {
  test(`model ${model.name} is in models/ with the pinned sha256`, async () => {
    const file = join(MODELS, model.path, model.sha256_of ?? '');
    assert.ok(existsSync(file), `${file} is missing: run scripts/setup.sh`);
    assert.equal(await sha256(file), model.sha256);
  });
}

test('GGUF models start with the GGUF magic and version 3', () => {
  for (const model of SET_UP_MODELS.filter((m) => m.path.endsWith('.gguf'))) {
    const head = Buffer.alloc(8);
    const fd = openSync(join(MODELS, model.path), 'r');
    readSync(fd, head, 0, 8, 0);
    closeSync(fd);
    assert.equal(head.toString('latin1', 0, 4), 'GGUF', model.name);
    assert.equal(head.readUInt32LE(4), 3, model.name);
  }
});
