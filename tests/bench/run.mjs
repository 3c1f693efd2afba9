#!/usr/bin/env node
// The benchmark suite: navaja beside the engines its users would pick instead,
// on the same machine, the same model files and the same browser, in one run.
//
//   node tests/bench/run.mjs [--runs N] [--only browser-llm,browser-embed,bandwidth,native,kv]
//                            [--out docs/benchmarks.json] [--engines navaja,navaja-cpu]
//   (--engines: run only these engines of the browser suites, for quick
//   comparisons while tuning; docs/BENCHMARKS.md is only rewritten when the
//   JSON goes to docs/benchmarks.json)
//   node tests/bench/run.mjs --report docs/benchmarks.json   (only regenerate the Markdown and chart)
//
// `make bench` runs it after setting everything up (scripts/bench.sh). Every
// figure is the median of N runs (default 3) with min and max; the runs
// alternate between engines (A B C A B C ...) so machine drift hits each
// alike. In the browser every run gets a fresh Chromium (SwiftShader WebGPU),
// so one engine's memory and compiled shaders never help the next, and its
// peak memory is its own. Writes the JSON, then docs/BENCHMARKS.md and
// docs/benchmarks.svg from it (lib/report.mjs). Exits non-zero when any
// engine fails to run: a missing row is an error, never a blank.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startServer } from '../../scripts/serve.mjs';
import { launchBrowser } from '../../web/tests/browser.mjs';
import { sampleMemory } from './lib/memory.mjs';
import { cosine, summarize, summary } from './lib/stats.mjs';
import { writeReport } from './lib/report.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));
const NAVAJA = join(ROOT, 'target/release/navaja');
const LLM = 'models/SmolLM2-135M-Instruct.Q4_1.gguf';
const MINILM = 'models/all-MiniLM-L6-v2';
const MINILM_ONNX = 'models/bench/all-MiniLM-L6-v2.int8.onnx';
const TRANSFORMERS_ROOT = 'models/bench/transformers/';
const TRANSFORMERS_MODEL = 'all-MiniLM-L6-v2';
const PROSE = readFileSync(join(ROOT, 'tests/fixtures/text/alice-chapter1.txt'), 'utf8');
const PROMPT_TOKENS = 128;
const DECODE_TOKENS = 64;
const EMBED_BATCH = 64;
const EMBED_WORDS = 15;
const KV_CONTEXT = 2000;
const THREADS = cpus().length;

const DEFAULT_OUT = join(ROOT, 'docs/benchmarks.json');

function parseArgs(argv) {
  const out = { runs: 3, only: null, engines: null, out: DEFAULT_OUT, report: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') out.runs = Number(argv[++i]);
    else if (a === '--only') out.only = new Set(argv[++i].split(','));
    else if (a === '--out') out.out = argv[++i];
    else if (a === '--engines') out.engines = new Set(argv[++i].split(','));
    else if (a === '--report') out.report = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  if (!(out.runs >= 1)) throw new Error('--runs must be at least 1');
  return out;
}

const log = (...a) => console.error('[bench]', ...a);
const failures = [];

/** Runs `fn`, recording a failure (the suite then exits non-zero) instead of a blank row. */
async function attempt(what, fn) {
  try {
    return await fn();
  } catch (err) {
    log(`FAILED: ${what}: ${err?.stack ?? err}`);
    failures.push({ what, error: String(err?.message ?? err) });
    return null;
  }
}

function xdgEnv() {
  return { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? mkdtempSync(join(tmpdir(), 'xdg-')) };
}

function navajaJson(args) {
  const stdout = execFileSync(NAVAJA, args, { cwd: ROOT, env: xdgEnv(), maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(stdout.toString('utf8'));
}

function versionOf(pkg) {
  return JSON.parse(readFileSync(join(HERE, 'node_modules', pkg, 'package.json'), 'utf8')).version;
}

function preflight() {
  const missing = [
    [join(ROOT, 'pkg/dist/index.js'), 'build the package: bash scripts/build-web.sh'],
    [NAVAJA, 'build the CLI: cargo build --release -p navaja-cli'],
    [join(ROOT, LLM), 'run scripts/setup.sh'],
    [join(ROOT, MINILM, 'model.safetensors'), 'run scripts/setup.sh'],
    [join(ROOT, MINILM_ONNX), 'run python3 scripts/fetch_models.py --group bench'],
    [join(HERE, 'node_modules/@wllama/wllama/package.json'), 'run npm install in tests/bench'],
  ].filter(([p]) => !existsSync(p));
  if (missing.length) throw new Error(`missing: ${missing.map(([p, fix]) => `${p} (${fix})`).join('; ')}`);
}

/**
 * transformers.js reads a Hugging Face-style folder: the tokenizer and config
 * of navaja's MiniLM, with the ONNX export beside them as onnx/model_quantized.onnx
 * (its name for int8 weights, dtype "q8").
 */
function assembleTransformersFolder() {
  const dir = join(ROOT, TRANSFORMERS_ROOT, TRANSFORMERS_MODEL);
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    copyFileSync(join(ROOT, MINILM, f), join(dir, f));
  }
  copyFileSync(join(ROOT, MINILM_ONNX), join(dir, 'onnx/model_quantized.onnx'));
}

/**
 * The prompt: the longest prefix of the prose that navaja's tokenizer (the
 * GGUF's own BPE, which llama.cpp shares) makes exactly PROMPT_TOKENS tokens.
 */
function promptOf(n) {
  const count = (text) => navajaJson(['tokenize', '--model', LLM, '--json', '--', text]).count;
  let lo = 1;
  let hi = PROSE.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (count(PROSE.slice(0, mid)) <= n) lo = mid;
    else hi = mid - 1;
  }
  let text = PROSE.slice(0, lo).trimEnd();
  while (count(text) > n) text = text.slice(0, -1);
  const tok = navajaJson(['tokenize', '--model', LLM, '--json', '--', text]);
  if (tok.count !== n) throw new Error(`could not cut the prose to ${n} tokens (got ${tok.count})`);
  return { text, ids: tok.ids };
}

/** A fresh Chromium per run: open the harness page, call `fn` of module `page/<module>.js`, sample memory. */
async function inFreshBrowser(server, module, fn, args, { timeoutMs = 600_000 } = {}) {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const consoleLines = [];
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    await page.goto(`${server.url}/tests/bench/page/index.html`);
    const isolated = await page.evaluate(() => self.crossOriginIsolated);
    if (!isolated) throw new Error('the harness page is not cross-origin isolated (COOP/COEP headers missing)');
    const memory = sampleMemory();
    let timer;
    const result = await Promise.race([
      page.evaluate(async ([m, f, a]) => (await import(`/tests/bench/page/${m}.js`))[f](a), [module, fn, args]),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer)); // a pending timer would keep node alive up to 10 min after the suite
    const mem = memory.stop();
    return { ...result, peak_memory_bytes: mem.peak_bytes - mem.baseline_bytes, console: consoleLines.slice(-20) };
  } finally {
    await browser.close();
  }
}

async function chromiumVersion() {
  const browser = await launchBrowser();
  try {
    return browser.version();
  } finally {
    await browser.close();
  }
}

// ---- the suites -------------------------------------------------------------

async function browserBandwidth(server, runs) {
  const results = [];
  for (let r = 0; r < runs; r++) {
    log(`browser read bandwidth, run ${r + 1}/${runs}`);
    results.push(await inFreshBrowser(server, 'bandwidth', 'readBandwidth', { mib: 256, repeats: 3, dispatches: 2 }));
  }
  const kernels = results[0].kernels.map((k, i) => ({ kernel: k.kernel, gb_per_s: summary(results.map((r) => r.kernels[i].gb_per_s)) }));
  return { adapter: results[0].adapter, kernels, best_gb_per_s: summary(results.map((r) => r.best_gb_per_s)) };
}

const LLM_FIELDS = ['load_ms', 'ttft_ms', 'prefill_tokens_per_s', 'decode_tokens_per_s', 'peak_memory_bytes', 'engine_prefill_tokens_per_s', 'engine_decode_tokens_per_s'];

async function browserLlm(server, runs, prompt) {
  const modelUrl = `/${LLM}`;
  const common = { modelUrl, prompt: prompt.text, decodeTokens: DECODE_TOKENS };
  const engines = [
    { id: 'navaja', engine: 'navaja', version: navajaVersion(), module: 'navaja', args: { ...common } },
    { id: 'navaja-cpu', engine: 'navaja', version: navajaVersion(), module: 'navaja', args: { ...common, backend: 'cpu' } },
    { id: 'wllama-cpu', engine: 'wllama', version: versionOf('@wllama/wllama'), module: 'wllama', args: { ...common, gpu: false, threads: THREADS } },
    { id: 'wllama-webgpu', engine: 'wllama', version: versionOf('@wllama/wllama'), module: 'wllama', args: { ...common, gpu: true, threads: THREADS } },
  ];
  return alternate(server, runs, engines, 'llm', LLM_FIELDS, (e, r) => {
    if (r.completion_tokens !== DECODE_TOKENS) throw new Error(`${e.id} generated ${r.completion_tokens} tokens, not ${DECODE_TOKENS}`);
    if (Math.abs(r.prompt_tokens - PROMPT_TOKENS) > 1) throw new Error(`${e.id} saw ${r.prompt_tokens} prompt tokens, not ${PROMPT_TOKENS}`);
  });
}

const EMBED_FIELDS = ['load_ms', 'texts_per_s', 'peak_memory_bytes'];

async function browserEmbed(server, runs) {
  // One timed batch per run (the runs give the median); the untimed warm-up
  // embeds the first 8 texts, which compiles what the batch needs.
  const common = { prose: PROSE, batch: EMBED_BATCH, words: EMBED_WORDS, repeats: 1, warmup: 8 };
  const tjs = { modelRoot: `/${TRANSFORMERS_ROOT}`, modelName: TRANSFORMERS_MODEL, dtype: 'q8', threads: THREADS };
  const engines = [
    { id: 'navaja', engine: 'navaja', version: navajaVersion(), module: 'navaja', args: { ...common, modelUrl: `/${MINILM}/` } },
    { id: 'navaja-cpu', engine: 'navaja', version: navajaVersion(), module: 'navaja', args: { ...common, modelUrl: `/${MINILM}/`, backend: 'cpu' } },
    { id: 'transformers-wasm', engine: 'transformers.js', version: versionOf('@huggingface/transformers'), module: 'transformers', args: { ...common, ...tjs, device: 'wasm' } },
    { id: 'transformers-webgpu', engine: 'transformers.js', version: versionOf('@huggingface/transformers'), module: 'transformers', args: { ...common, ...tjs, device: 'webgpu' } },
  ];
  const out = await alternate(server, runs, engines, 'embed', EMBED_FIELDS, () => {});
  // The same texts must get the same embeddings, or the speeds compare different work.
  const ref = out.find((e) => e.id === 'navaja')?.sample_embeddings;
  for (const e of out) {
    if (ref && e.sample_embeddings) e.cosine_vs_navaja = e.sample_embeddings.map((v, i) => cosine(v, ref[i]));
    if (e.cosine_vs_navaja && Math.min(...e.cosine_vs_navaja) < 0.95) {
      failures.push({ what: `embed ${e.id}`, error: `embeddings disagree with navaja's (cosine ${e.cosine_vs_navaja})` });
    }
  }
  return out;
}

/** Runs every engine once per round, round after round, each in a fresh browser. */
async function alternate(server, runs, allEngines, fn, fields, check) {
  const engines = allEngines.filter((e) => !args.engines || args.engines.has(e.id));
  const results = new Map(engines.map((e) => [e.id, []]));
  const errors = new Map();
  for (let r = 0; r < runs; r++) {
    for (const e of engines) {
      if (errors.has(e.id)) continue;
      log(`${fn} ${e.id}, run ${r + 1}/${runs}`);
      const res = await attempt(`${fn} ${e.id}`, async () => {
        const out = await inFreshBrowser(server, e.module, fn, e.args);
        check(e, out);
        return out;
      });
      if (res) {
        log(`  ${JSON.stringify(Object.fromEntries(fields.map((f) => [f, res[f]])))}`);
        results.get(e.id).push(res);
      } else errors.set(e.id, true);
    }
  }
  return engines.map((e) => {
    const rs = results.get(e.id);
    const lastRun = rs[rs.length - 1] ?? {};
    return {
      id: e.id,
      engine: e.engine,
      version: e.version,
      config: lastRun.config,
      ...summarize(rs, fields),
      ...(lastRun.log ? { log: lastRun.log } : {}),
      ...(lastRun.embeddings ? { sample_embeddings: lastRun.embeddings } : {}),
      ...(lastRun.kv ? { kv: lastRun.kv } : {}),
      ...(lastRun.weight_bytes ? { weight_bytes: lastRun.weight_bytes, kv_bytes_per_token: lastRun.kv_bytes_per_token } : {}),
      runs: rs.length,
    };
  });
}

function navajaVersion() {
  return JSON.parse(readFileSync(join(ROOT, 'pkg/package.json'), 'utf8')).version;
}

/** navaja on lavapipe against llama.cpp on the CPU, the same ids, alternating. */
async function native(runs, prompt) {
  const idsFile = join(mkdtempSync(join(tmpdir(), 'navaja-bench-')), 'ids.json');
  writeFileSync(idsFile, JSON.stringify(prompt.ids));
  const nav = [];
  const cpp = [];
  for (let r = 0; r < runs; r++) {
    log(`native navaja (lavapipe), run ${r + 1}/${runs}`);
    const n = await attempt('native navaja', () =>
      navajaJson(['bench', '--model', LLM, '--runs', '1', '--prompt-tokens', String(PROMPT_TOKENS), '--decode-tokens', String(DECODE_TOKENS)]),
    );
    if (n) nav.push(n);
    log(`native llama.cpp, run ${r + 1}/${runs}`);
    const c = await attempt('native llama.cpp', () => {
      const p = spawnSync(process.execPath, [join(HERE, 'lib/llamacpp-native.mjs'), join(ROOT, LLM), idsFile, String(DECODE_TOKENS), String(THREADS)], {
        cwd: HERE,
        env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' },
        encoding: 'utf8',
        maxBuffer: 16 << 20,
      });
      if (p.status !== 0) throw new Error(`llama.cpp exited ${p.status}: ${p.stderr.slice(-2000)}`);
      return JSON.parse(p.stdout.trim().split('\n').pop());
    });
    if (c) cpp.push(c);
  }
  const first = nav[0] ?? {};
  return {
    navaja: {
      adapter: first.adapter,
      kv: first.kv,
      load_ms: summary(nav.map((n) => n.load_ms)),
      prefill_tokens_per_s: summary(nav.map((n) => n.prefill_tokens_per_s.median)),
      decode_tokens_per_s: summary(nav.map((n) => n.decode_tokens_per_s.median)),
      decode_bytes_per_token: first.decode_bytes_per_token,
      read_bandwidth_gb_per_s: summary(nav.map((n) => n.read_bandwidth_gb_per_s)),
      fraction_of_read_bandwidth: summary(nav.map((n) => n.fraction_of_read_bandwidth)),
    },
    llama_cpp: {
      version: cpp[0]?.llama_cpp,
      node_llama_cpp: versionOf('node-llama-cpp'),
      build: cpp[0]?.build,
      threads: cpp[0]?.threads,
      load_ms: summary(cpp.map((c) => c.load_ms)),
      ttft_ms: summary(cpp.map((c) => c.ttft_ms)),
      prefill_tokens_per_s: summary(cpp.map((c) => c.prefill_tokens_per_s)),
      decode_tokens_per_s: summary(cpp.map((c) => c.decode_tokens_per_s)),
    },
  };
}

function kvBench(runs) {
  log(`KV cache at ${KV_CONTEXT} tokens of context (native, lavapipe)`);
  return navajaJson(['bench-kv', '--model', LLM, '--kv', 'f32,f16,q8,q4', '--context', String(KV_CONTEXT), '--decode-tokens', '8', '--runs', String(runs)]);
}

// ---- main -------------------------------------------------------------------

const args = parseArgs(process.argv.slice(2));
if (args.report) {
  // Only regenerate docs/BENCHMARKS.md and the chart from a saved JSON.
  writeReport(JSON.parse(readFileSync(args.report, 'utf8')), { markdown: join(ROOT, 'docs/BENCHMARKS.md'), svg: join(ROOT, 'docs/benchmarks.svg') });
  process.exit(0);
}
const want = (s) => !args.only || args.only.has(s);
const started = Date.now();
preflight();
assembleTransformersFolder();
const prompt = promptOf(PROMPT_TOKENS);
log(`prompt: ${prompt.ids.length} tokens (${prompt.text.length} characters)`);

const report = {
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    chromium: await chromiumVersion(),
  },
  workload: {
    llm: LLM,
    prompt_tokens: PROMPT_TOKENS,
    decode_tokens: DECODE_TOKENS,
    embedding_model: MINILM,
    embedding_batch: EMBED_BATCH,
    words_per_text: EMBED_WORDS,
    kv_context: KV_CONTEXT,
    runs: args.runs,
  },
  versions: {
    navaja: navajaVersion(),
    wllama: versionOf('@wllama/wllama'),
    transformers_js: versionOf('@huggingface/transformers'),
    onnxruntime_web: versionOf('onnxruntime-web'),
    node_llama_cpp: versionOf('node-llama-cpp'),
  },
};

// Where the suite's time goes, per section (its bare-machine budget is 30 minutes).
const sectionSeconds = {};
async function timed(section, fn) {
  const t = Date.now();
  try {
    return await fn();
  } finally {
    sectionSeconds[section] = Math.round((Date.now() - t) / 1000);
  }
}

const server = await startServer(0);
try {
  if (want('bandwidth')) report.browser_bandwidth = await timed('bandwidth', () => attempt('browser read bandwidth', () => browserBandwidth(server, args.runs)));
  if (want('browser-llm')) report.browser_llm = await timed('browser-llm', () => browserLlm(server, args.runs, prompt));
  if (want('browser-embed')) report.browser_embed = await timed('browser-embed', () => browserEmbed(server, args.runs));
} finally {
  await server.close();
}
if (want('native')) report.native = await timed('native', () => native(args.runs, prompt));
if (want('kv')) report.kv = await timed('kv', () => attempt('kv bench', () => kvBench(args.runs)));
report.failures = failures;
report.seconds = (Date.now() - started) / 1000;
report.section_seconds = sectionSeconds;

writeFileSync(args.out, JSON.stringify(report, null, 2) + '\n');
log(`wrote ${args.out}`);
// The page is generated from docs/benchmarks.json only: a run written
// elsewhere (a partial one while tuning) leaves it as it is.
if (resolve(args.out) === resolve(DEFAULT_OUT)) {
  writeReport(report, { markdown: join(ROOT, 'docs/BENCHMARKS.md'), svg: join(ROOT, 'docs/benchmarks.svg') });
  log(`wrote docs/BENCHMARKS.md and docs/benchmarks.svg in ${report.seconds.toFixed(0)} s`);
} else {
  log(`docs/BENCHMARKS.md left as it is (regenerate it from a run with: node tests/bench/run.mjs --report ${args.out})`);
}
if (failures.length) {
  log(`${failures.length} engine(s) failed to run: ${failures.map((f) => f.what).join(', ')}`);
  process.exit(1);
}
