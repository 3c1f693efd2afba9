// The demo page: opens WebGPU through navaja, shows the adapter, and runs
// the RMSNorm kernel against a JavaScript computation of the same thing.
import { createEngine } from '../../pkg/dist/index.js';

const $ = (id) => document.getElementById(id);

function setState(el, state, text) {
  el.dataset.state = state;
  el.textContent = text;
}

function rmsNormJs(x, w, eps) {
  const cols = w.length;
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / cols; r++) {
    let sumSq = 0;
    for (let i = 0; i < cols; i++) sumSq += x[r * cols + i] ** 2;
    const scale = 1 / Math.sqrt(sumSq / cols + eps);
    for (let i = 0; i < cols; i++) y[r * cols + i] = x[r * cols + i] * scale * w[i];
  }
  return y;
}

function showAdapter(info) {
  const rows = [
    ['name', info.name],
    ['backend', info.backend],
    ['type', info.device_type],
    ['shader-f16', info.shader_f16 ? 'yes' : 'no (packed f16 paths)'],
    ['subgroups', info.subgroups ? 'yes' : 'no'],
    ['max storage binding', `${(info.limits.max_storage_buffer_binding_size / 2 ** 20).toFixed(0)} MiB`],
  ];
  $('adapter').replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = k;
    dd.textContent = v;
    return [dt, dd];
  }));
  $('limits').tBodies[0].replaceChildren(...Object.entries(info.limits).map(([k, v]) => {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td></td><td></td>';
    tr.cells[0].textContent = k;
    tr.cells[1].textContent = v.toLocaleString('en');
    return tr;
  }));
}

async function runCheck(engine) {
  const rows = 64, cols = 576, eps = 1e-5;
  const x = Float32Array.from({ length: rows * cols }, () => (Math.random() - 0.5) * 8);
  const w = Float32Array.from({ length: cols }, () => Math.random() * 2);
  const t0 = performance.now();
  const y = await engine.rmsNorm(x, w, eps);
  const ms = performance.now() - t0;
  const want = rmsNormJs(x, w, eps);
  let maxErr = 0;
  for (let i = 0; i < y.length; i++) maxErr = Math.max(maxErr, Math.abs(y[i] - want[i]) / (1 + Math.abs(want[i])));
  const ok = maxErr < 1e-4;
  setState($('op-result'), ok ? 'ok' : 'error',
    `${ok ? 'ok' : 'MISMATCH'}: ${rows}×${cols} in ${ms.toFixed(1)} ms, max relative error ${maxErr.toExponential(2)}`);
  return { ok, maxErr, ms };
}

async function main() {
  let engine;
  try {
    engine = await createEngine();
  } catch (error) {
    setState($('status'), 'error', `${error.code ?? 'error'}: ${error.message}`);
    setState($('op-result'), 'error', 'no GPU, no check');
    window.navajaDemo = { error: { code: error.code, message: error.message } };
    return;
  }
  setState($('status'), 'ok', 'WebGPU ready');
  showAdapter(engine.adapter);
  const result = await runCheck(engine).catch((error) => {
    setState($('op-result'), 'error', `${error.code}: ${error.message}`);
    return { ok: false, error: error.message };
  });
  $('run').disabled = false;
  $('run').onclick = () => runCheck(engine);
  // Read by the browser test (web/tests) to check the page end to end.
  window.navajaDemo = { adapter: engine.adapter, result };
}

main();
