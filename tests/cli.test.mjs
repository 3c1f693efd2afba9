// End-to-end: the native `navaja` binary, as a user runs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
