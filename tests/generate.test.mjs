// End-to-end: text generation with the real SmolLM2-135M-Instruct Q4_1, through
// the native `navaja` binary on the default wgpu adapter (lavapipe on CI),
// checked against independent references (never against navaja's own output).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NAVAJA = join(ROOT, 'target/debug/navaja');
const SMOLLM2 = join(ROOT, 'models/SmolLM2-135M-Instruct.Q4_1.gguf');
const REFERENCE = JSON.parse(readFileSync(join(ROOT, 'tests/fixtures/reference/reference.json'), 'utf8'));

function navaja(...args) {
  assert.ok(existsSync(NAVAJA), `${NAVAJA} is missing: cargo build -p navaja-cli`);
  assert.ok(existsSync(SMOLLM2), `${SMOLLM2} is missing: run scripts/setup.sh`);
  return execFileSync(NAVAJA, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
}

test('greedy generate on the raw prompt reproduces the f32 reference ids exactly', () => {
  const ref = REFERENCE['smollm2-135m-instruct-q4_1'];
  const out = JSON.parse(
    navaja('generate', '--model', SMOLLM2, '--prompt', ref.prompt_text, '--temperature', '0', '--max-tokens', '20', '--json'),
  );
  assert.deepEqual(out.ids, ref.greedy_next_20_ids);
  assert.equal(out.finish_reason, 'length');
  assert.equal(out.prompt_tokens, ref.prompt_ids.length);
  assert.ok(ref.greedy_text.endsWith(out.text), `text ${JSON.stringify(out.text)}`);
  for (const key of ['load_ms', 'prefill_tokens_per_s', 'decode_tokens_per_s']) {
    assert.ok(out.timings[key] > 0, `timings.${key}`);
  }
});

test('seeded sampling reproduces itself and stop strings cut the text', () => {
  const args = ['generate', '--model', SMOLLM2, '--prompt', 'Once upon a time', '--max-tokens', '24', '--json'];
  const a = JSON.parse(navaja(...args, '--seed', '1234', '--temperature', '0.9'));
  const b = JSON.parse(navaja(...args, '--seed', '1234', '--temperature', '0.9'));
  assert.deepEqual(a.ids, b.ids);
  assert.equal(a.seed, 1234);
  const stopped = JSON.parse(navaja(...args, '--temperature', '0', '--stop', 'Nova'));
  assert.equal(stopped.text, ', the city of ');
  assert.equal(stopped.finish_reason, 'stop');
});

test('generate --chat answers a question through the chat template and stops at the end of turn', () => {
  const out = JSON.parse(
    navaja('generate', '--model', SMOLLM2, '--chat', '--prompt', 'What is the capital of France?', '--temperature', '0', '--max-tokens', '48', '--json'),
  );
  assert.match(out.text, /Paris/);
  assert.equal(out.finish_reason, 'stop');
  const eot = out.ids[out.ids.length - 1];
  assert.equal(eot, 2, 'the reply ends with <|im_end|>');
});

test('bad arguments give a typed error, not a crash', () => {
  const r = spawnSync(NAVAJA, ['generate', '--model', SMOLLM2, '--prompt', 'x', '--top-p', '2'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /invalid-argument/);
  const missing = spawnSync(NAVAJA, ['generate', '--model', join(ROOT, 'README.md'), '--prompt', 'x'], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /model-format/);
});

test('teacher-forced top-1 agreement with the numpy reference is at least 99% over 256 tokens', () => {
  const pydeps = process.env.NAVAJA_PYDEPS || join(homedir(), '.cache/navaja/pydeps');
  const r = spawnSync(
    'python3',
    ['scripts/teacher_forcing.py', '--model', SMOLLM2, '--text-file', 'tests/fixtures/text/alice-chapter1.txt', '--tokens', '256'],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PYTHONPATH: pydeps } },
  );
  assert.ok(r.stdout, `teacher_forcing.py printed nothing: ${r.stderr}`);
  const result = JSON.parse(r.stdout);
  console.log(JSON.stringify({ top1_agreement: result.top1_agreement, mismatches: result.mismatches.length,
    perplexity_navaja: result.perplexity_navaja, perplexity_reference: result.perplexity_reference }));
  assert.equal(result.tokens, 256);
  assert.ok(result.top1_agreement >= 0.99, `agreement ${result.top1_agreement}`);
  assert.ok(Math.abs(result.perplexity_navaja / result.perplexity_reference - 1) < 0.01, 'perplexities differ');
  assert.equal(r.status, 0);
});
