// End-to-end: sentence embeddings with the real all-MiniLM-L6-v2 through the
// native `navaja` binary on the default wgpu adapter (lavapipe on CI), checked
// against the independent numpy reference (tests/fixtures/reference:
// reference.json, and full embeddings from minilm_numpy.py through
// scripts/minilm_reference.py), never against navaja's own output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NAVAJA = join(ROOT, 'target/debug/navaja');
const MINILM = join(ROOT, 'models/all-MiniLM-L6-v2');
const REFERENCE = JSON.parse(readFileSync(join(ROOT, 'tests/fixtures/reference/reference.json'), 'utf8'))['all-minilm-l6-v2'];
const PYDEPS = process.env.NAVAJA_PYDEPS || join(homedir(), '.cache/navaja/pydeps');

function navaja(...args) {
  assert.ok(existsSync(NAVAJA), `${NAVAJA} is missing: cargo build -p navaja-cli`);
  assert.ok(existsSync(MINILM), `${MINILM} is missing: run scripts/setup.sh`);
  return execFileSync(NAVAJA, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, maxBuffer: 1 << 26 });
}

function fails(args) {
  const r = spawnSync(NAVAJA, args, { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 1, `expected a failure: ${r.stdout}${r.stderr}`);
  assert.doesNotMatch(r.stderr, /panicked/);
  return r.stderr;
}

/** The numpy reference's ids and unit embeddings of plain-ASCII sentences. */
function numpyEmbeddings(sentences) {
  const r = spawnSync('python3', ['scripts/minilm_reference.py', MINILM], {
    cwd: ROOT, encoding: 'utf8', input: JSON.stringify(sentences), env: { ...process.env, PYTHONPATH: PYDEPS }, maxBuffer: 1 << 26,
  });
  assert.equal(r.status, 0, `minilm_reference.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function cosine(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return dot / Math.sqrt(na * nb);
}

const FIRST = REFERENCE.cosine_with_first.first;
const OTHERS = Object.keys(REFERENCE.cosine_with_first).filter((k) => k !== 'first');

test('navaja embed --json: MiniLM cosines within 0.002 of the reference, embeddings at cosine >= 0.9999 with numpy', () => {
  const sentences = [FIRST, ...OTHERS, 'Privacy-sensitive sites embed documents and queries on the device, and rank them locally.'];
  const out = JSON.parse(navaja('embed', '--json', '--similarity', '--model', MINILM, ...sentences));
  assert.equal(out.model, 'all-MiniLM-L6-v2');
  assert.equal(out.dim, 384);
  assert.equal(out.pooling, 'mean');
  assert.equal(out.normalized, true);
  assert.equal(out.embeddings.length, sentences.length);
  assert.equal(out.tokens[0], REFERENCE.tokens[FIRST].length);
  for (const e of out.embeddings) assert.equal(e.length, 384);
  REFERENCE.embedding_first5[FIRST].forEach((want, i) => assert.ok(Math.abs(out.embeddings[0][i] - want) < 2e-5, `e0[${i}]`));
  OTHERS.forEach((s, i) => {
    const want = REFERENCE.cosine_with_first[s];
    const got = out.similarity[0][i + 1];
    assert.ok(Math.abs(got - want) <= 0.002, `${s}: cosine ${got} vs reference ${want}`);
    assert.ok(Math.abs(cosine(out.embeddings[0], out.embeddings[i + 1]) - got) < 1e-6, 'similarity matrix');
  });
  const numpy = numpyEmbeddings(sentences);
  const agreement = sentences.map((s, i) => cosine(out.embeddings[i], numpy.embeddings[i]));
  console.log(JSON.stringify({ cosine_with_numpy: agreement }));
  agreement.forEach((c, i) => assert.ok(c >= 0.9999, `${sentences[i]}: cosine ${c} with the numpy embedding`));
  numpy.ids.forEach((ids, i) => assert.equal(out.tokens[i], ids.length, `token count of ${sentences[i]}`));
});

test('empty texts embed as [CLS] [SEP]; texts past 256 tokens are truncated, matching numpy on the truncated text', () => {
  const words = Array.from({ length: 300 }, (_, i) => ['search', 'local', 'documents', 'privately'][i % 4]).join(' ');
  const out = JSON.parse(navaja('embed', '--json', '--model', MINILM, '', words));
  assert.deepEqual(out.tokens, [2, 256]);
  for (const e of out.embeddings) {
    assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-5, 'unit length');
    assert.ok(e.every(Number.isFinite));
  }
  // The first 254 words are one token each here: the truncated input is exactly those words.
  const numpy = numpyEmbeddings(['', words.split(' ').slice(0, 254).join(' ')]);
  assert.equal(numpy.ids[1].length, 256);
  out.embeddings.forEach((e, i) => assert.ok(cosine(e, numpy.embeddings[i]) >= 0.9999, `text ${i}`));
});

test('a folder with a missing file, no text, or a rerank with an embedding model is a clear error', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'navaja-embed-'));
  const partial = (skip) => {
    const dir = join(tmp, skip.replace('/', '_'));
    mkdirSync(join(dir, '1_Pooling'), { recursive: true });
    for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'modules.json', '1_Pooling/config.json', 'sentence_bert_config.json']) {
      if (f !== skip) symlinkSync(join(MINILM, f), join(dir, f));
    }
    return dir;
  };
  assert.match(fails(['embed', '--model', partial('tokenizer.json'), 'x']), /error \[model-format\]: .*no tokenizer\.json/);
  assert.match(fails(['embed', '--model', partial('config.json'), 'x']), /error \[model-format\]: .*no config\.json/);
  assert.match(fails(['embed', '--model', partial('1_Pooling/config.json'), 'x']),
    /error \[model-format\]: .*modules\.json has a Pooling module in "1_Pooling", but 1_Pooling\/config\.json is missing/);
  assert.match(fails(['embed', '--model', partial('model.safetensors'), 'x']), /error \[invalid-argument\]: .*no model\.safetensors/);
  assert.match(fails(['embed', '--model', MINILM]), /error \[invalid-argument\]: .*at least one text/);
  assert.match(fails(['embed', '--model', join(ROOT, 'README.md'), 'x']), /error \[model-format\]/);
  assert.match(fails(['embed', '--model', join(ROOT, 'models/SmolLM2-135M-Instruct.Q4_1.gguf'), 'x']),
    /error \[unsupported-model\]: .*not an embedding model/);
  assert.match(fails(['rerank', '--model', MINILM, '--query', 'q', 'd']), /error \[unsupported-model\]: .*no classification head/);
  // Without sentence-transformers files the folder still embeds (mean pooling, not normalised).
  const plain = join(tmp, 'plain');
  mkdirSync(plain);
  for (const f of ['model.safetensors', 'config.json', 'tokenizer.json']) symlinkSync(join(MINILM, f), join(plain, f));
  const out = JSON.parse(navaja('embed', '--json', '--model', plain, FIRST));
  assert.equal(out.normalized, false);
  assert.equal(out.max_tokens, 512);
});
