// End-to-end: the native `navaja` binary, as a user runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NAVAJA = fileURLToPath(new URL('../target/debug/navaja', import.meta.url));

function navaja(...args) {
  assert.ok(existsSync(NAVAJA), `${NAVAJA} is missing: cargo build -p navaja-cli`);
  return execFileSync(NAVAJA, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('navaja devices --json lists a Vulkan adapter with its limits and selects one', () => {
  const report = JSON.parse(navaja('devices', '--json'));
  assert.equal(report.selection_error, null);
  assert.ok(report.selected, 'navaja must select an adapter');
  const vulkan = report.adapters.filter((a) => a.backend === 'vulkan');
  assert.ok(vulkan.length > 0, `no Vulkan adapter: ${report.adapters.map((a) => `${a.name} (${a.backend})`)}`);
  const expected = process.env.NAVAJA_EXPECT_ADAPTER;
  if (expected) {
    assert.ok(
      vulkan.some((a) => a.name.toLowerCase().includes(expected.toLowerCase())),
      `expected a Vulkan adapter named like ${expected}`,
    );
  }
  for (const a of vulkan) {
    assert.ok(a.limits.max_storage_buffer_binding_size >= 128 * 2 ** 20, `${a.name}: storage binding limit`);
    assert.ok(a.limits.max_compute_invocations_per_workgroup >= 256, `${a.name}: invocations`);
    assert.ok(a.limits.max_compute_workgroups_per_dimension >= 65535, `${a.name}: workgroups`);
    assert.equal(typeof a.shader_f16, 'boolean');
    assert.equal(a.features.includes('SHADER_F16'), a.shader_f16, `${a.name}: features list vs shader_f16`);
  }
  assert.ok(
    report.adapters.some((a) => a.name === report.selected.name && a.backend === report.selected.backend),
    'the selected adapter is one of those listed',
  );
});

test('navaja devices prints a readable list marking the selected adapter', () => {
  const text = navaja('devices');
  assert.match(text, /^\* .+\[vulkan \/ /m);
  assert.match(text, /max storage binding \d+ MiB/);
});

test('an adapter that does not exist is a clear error, not a panic', () => {
  const run = spawnSync(NAVAJA, ['devices'], {
    encoding: 'utf8',
    env: { ...process.env, NAVAJA_ADAPTER: 'no-such-adapter-xyz' },
  });
  // The list still prints; the selection error names the problem and the options.
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /no adapter can be opened: .*no adapter matches "no-such-adapter-xyz"; available: /);
  assert.doesNotMatch(run.stderr, /panicked/);
});

test('unknown arguments are rejected with usage help', () => {
  const run = spawnSync(NAVAJA, ['devices', '--bogus'], { encoding: 'utf8' });
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /unexpected argument '--bogus'/);
});

const MODELS = fileURLToPath(new URL('../models/', import.meta.url));

test('navaja inspect --json on SmolLM2 reports llama, 30 layers, 576 hidden, 9/3 heads, vocab 49152, Q4_1/Q8_0/F32', () => {
  const r = JSON.parse(navaja('inspect', '--json', `${MODELS}SmolLM2-135M-Instruct.Q4_1.gguf`));
  assert.equal(r.format, 'gguf v3');
  assert.equal(r.architecture, 'llama');
  assert.equal(r.spec_error, null);
  assert.equal(r.spec.n_layers, 30);
  assert.equal(r.spec.hidden_size, 576);
  assert.equal(r.spec.n_heads, 9);
  assert.equal(r.spec.n_kv_heads, 3);
  assert.equal(r.spec.vocab_size, 49152);
  assert.deepEqual(Object.keys(r.tensor_types).sort(), ['F32', 'Q4_1', 'Q8_0']);
  assert.equal(r.tokenizer.kind, 'Bpe');
  assert.equal(r.tokenizer.pre, 'smollm');
  assert.equal(r.tokenizer.vocab_size, 49152);
  assert.equal(r.chat_template.present, true);
  assert.equal(r.context_length, 8192);
  assert.equal(r.tensors.length, 272);
});

test('navaja inspect reads a safetensors folder (all-MiniLM-L6-v2) with its pooling', () => {
  const r = JSON.parse(navaja('inspect', '--json', `${MODELS}all-MiniLM-L6-v2`));
  assert.equal(r.format, 'safetensors');
  assert.equal(r.architecture, 'bert');
  assert.equal(r.spec.n_layers, 6);
  assert.equal(r.spec.hidden_size, 384);
  assert.equal(r.spec.bert.pooling, 'mean');
  assert.equal(r.tokenizer.kind, 'Wpm');
});

test('navaja tokenize matches the reference ids (SmolLM2 and MiniLM) and decodes back', () => {
  const reference = JSON.parse(readFileSync(new URL('./fixtures/reference/reference.json', import.meta.url), 'utf8'));
  const smol = reference['smollm2-135m-instruct-q4_1'];
  const ids = JSON.parse(navaja('tokenize', '--json', '--model', `${MODELS}SmolLM2-135M-Instruct.Q4_1.gguf`, smol.prompt_text)).ids;
  assert.deepEqual(ids, smol.prompt_ids);
  const text = navaja('tokenize', '--decode', '--model', `${MODELS}SmolLM2-135M-Instruct.Q4_1.gguf`, ids.join(' '));
  assert.equal(text.trimEnd(), smol.prompt_text);
  const minilm = reference['all-minilm-l6-v2'].tokens;
  for (const [sentence, want] of Object.entries(minilm)) {
    const got = JSON.parse(navaja('tokenize', '--json', '--model', `${MODELS}all-MiniLM-L6-v2`, sentence)).ids;
    assert.deepEqual(got, want, sentence);
  }
});

test('navaja inspect on a truncated or foreign file is a typed error naming the problem', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'navaja-'));
  const truncated = join(tmp, 'truncated.gguf');
  writeFileSync(truncated, readFileSync(`${MODELS}SmolLM2-135M-Instruct.Q4_1.gguf`).subarray(0, 3000));
  let run = spawnSync(NAVAJA, ['inspect', truncated], { encoding: 'utf8' });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /error \[model-format\]: .*truncated GGUF: metadata "tokenizer.ggml.tokens"/);
  const foreign = join(tmp, 'notes.txt');
  writeFileSync(foreign, 'hello world');
  run = spawnSync(NAVAJA, ['inspect', foreign], { encoding: 'utf8' });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /not a GGUF file/);
  assert.doesNotMatch(run.stderr, /panicked/);
});
