#!/usr/bin/env node
// Teacher-forced top-1 agreement between navaja and llama.cpp (issue 8).
//
// The text is tokenized once, by navaja (BOS added where the model's metadata
// asks for it), and the SAME ids are fed to both engines, so only the forward
// passes are compared. At every position i both engines predict the token that
// follows ids[0..=i]; top1_agreement is the share of positions where the two
// argmaxes are the same token.
//
// llama.cpp side: node-llama-cpp (prebuilt CPU binaries from the
// @node-llama-cpp/linux-x64 npm package; no compile: build: "never"), gpu: false,
// F32 KV cache (to match navaja --kv f32), no flash attention, full SWA cache.
// Note: on CPU llama.cpp quantizes activations to 8 bits (q8_0/q8_K) for its
// quantized matmuls, so a few flips at near-ties are expected; for every mismatch
// the report gives llama.cpp's logits for its own top-1 and for navaja's top-1.
//
// Install (once, from this folder; node >= 20):
//   cd scripts/llamacpp && npm install node-llama-cpp --no-audit --no-fund
//
// Run (from the repository root):
//   export XDG_RUNTIME_DIR=$(mktemp -d)   # wgpu on lavapipe wants one
//   node scripts/llamacpp/teacher_forcing.mjs --model models/gemma-3-270m-q4_k_m.gguf \
//       --text-file tests/fixtures/text/alice-chapter1.txt --tokens 600
//   node scripts/llamacpp/teacher_forcing.mjs --model models/SmolLM2-135M-Instruct.Q4_1.gguf \
//       --text-file tests/fixtures/text/alice-chapter1.txt --tokens 256
//
// Options: --navaja PATH (default target/release/navaja), --kv f32|f16|q8|q4
// (navaja's KV cache, default f32), --threads N (llama.cpp threads, default 0 = all),
// --navaja-json FILE (reuse a saved `navaja score` JSON instead of running it),
// --llama-model FILE (give llama.cpp another GGUF of the same model, e.g. the all-F32
// copy from dequant_f32.py, which takes llama.cpp's 8-bit activation rounding out).
// Prints one JSON object on stdout; progress goes to stderr.

import { execFileSync } from "node:child_process";
import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function parseArgs(argv) {
  const out = { navaja: "target/release/navaja", kv: "f32", threads: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    out[key] = argv[++i];
  }
  for (const k of ["model", "textFile", "tokens"]) {
    if (out[k] === undefined) throw new Error(`--${k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())} is required`);
  }
  out.tokens = Number(out.tokens);
  out.threads = Number(out.threads);
  return out;
}

const log = (...a) => console.error("[teacher_forcing]", ...a);

function runNavaja(bin, args) {
  const env = { ...process.env };
  if (!env.XDG_RUNTIME_DIR) env.XDG_RUNTIME_DIR = mkdtempSync(path.join(tmpdir(), "xdg-"));
  const stdout = execFileSync(bin, args, { env, maxBuffer: 256 << 20, stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(stdout.toString("utf8"));
}

const args = parseArgs(process.argv.slice(2));
const text = readFileSync(args.textFile, "utf8");

// 1. Tokenize with navaja.
const tok = runNavaja(args.navaja, ["tokenize", "--model", args.model, "--json", "--", text]);
if (tok.count < args.tokens) throw new Error(`text has only ${tok.count} tokens, ${args.tokens} asked`);
const ids = tok.ids.slice(0, args.tokens);
log(`${tok.count} tokens in the text, using the first ${ids.length}; first: ${JSON.stringify(tok.tokens.slice(0, 3))}`);

// 2. navaja teacher forcing.
let t0 = Date.now();
const nav = args.navajaJson
  ? JSON.parse(readFileSync(args.navajaJson, "utf8"))
  : runNavaja(args.navaja, ["score", "--model", args.model, "--ids", ids.join(" "), "--kv", args.kv]);
const navajaSeconds = (Date.now() - t0) / 1000;
if (JSON.stringify(nav.ids) !== JSON.stringify(ids)) throw new Error("navaja score saw different ids");
if (nav.argmax.length !== ids.length) throw new Error(`navaja gave ${nav.argmax.length} argmaxes for ${ids.length} ids`);
log(`navaja: ${navajaSeconds}s, perplexity ${nav.perplexity}`);

// 3. llama.cpp teacher forcing on the same ids.
t0 = Date.now();
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: path.resolve(args.llamaModel ?? args.model), gpuLayers: 0 });
const context = await model.createContext({
  contextSize: ids.length + 16,
  batchSize: Math.min(512, ids.length),
  sequences: 1,
  flashAttention: false,
  swaFullCache: true,
  experimentalKvCacheKeyType: "F32",
  experimentalKvCacheValueType: "F32",
  ...(args.threads > 0 ? { threads: args.threads } : {}),
});
const sequence = context.getSequence();
const input = ids.map((id, i) => [
  id,
  {
    generateNext: {
      logits: { filter: { tokens: i + 1 < ids.length ? [nav.argmax[i], ids[i + 1]] : [nav.argmax[i]], includeTop: 2 } },
      totalLogitWeight: true,
    },
  },
]);
const results = await sequence.controlledEvaluate(input);
const llamaSeconds = (Date.now() - t0) / 1000;

const llamaArgmax = [];
const mismatches = [];
const mismatchDetail = [];
let nll = 0;
const gaps = [];
for (let i = 0; i < ids.length; i++) {
  const logits = results[i]?.next?.logits;
  if (!logits) throw new Error(`no logits from llama.cpp at position ${i}`);
  const entries = [...logits.entries()].sort((a, b) => b[1] - a[1]);
  const [top1, top1Logit] = entries[0];
  llamaArgmax.push(top1);
  const runnerUp = entries.find(([t]) => t !== top1);
  gaps.push(runnerUp ? top1Logit - runnerUp[1] : Infinity);
  // log p(ids[i+1]) = logit - maxLogit - log(sum exp(logit - maxLogit))
  if (i + 1 < ids.length) nll -= logits.get(ids[i + 1]) - top1Logit - Math.log(results[i].next.totalLogitWeight);
  if (top1 !== nav.argmax[i]) {
    const second = entries.find(([t]) => t !== top1);
    mismatches.push(i);
    mismatchDetail.push({
      position: i,
      context_token: tok.tokens[i],
      llama_top1: top1,
      navaja_top1: nav.argmax[i],
      llama_logit_top1: top1Logit,
      llama_logit_of_navaja_top1: logits.get(nav.argmax[i]),
      // how far navaja's pick is behind llama.cpp's top-1, in llama.cpp's own logits
      llama_margin: top1Logit - logits.get(nav.argmax[i]),
      llama_top2_gap: second ? top1Logit - second[1] : null,
    });
  }
}
const agree = ids.length - mismatches.length;
const release = llama.llamaCppRelease;

const report = {
  model: args.model,
  llama_cpp_model: args.llamaModel ?? args.model,
  tokens: ids.length,
  first_token: tok.tokens[0],
  top1_agreement: agree / ids.length,
  agree,
  mismatches,
  mismatch_detail: mismatchDetail,
  navaja_perplexity: nav.perplexity,
  // llama.cpp over the same ids (navaja's perplexity averages over the same ids.length - 1 predictions, if it counts as we do)
  llama_cpp_perplexity: Math.exp(nll / (ids.length - 1)),
  // how many positions are near-ties in llama.cpp's own logits (top-1 minus top-2), i.e. could flip on small noise
  llama_near_ties: Object.fromEntries([0.05, 0.1, 0.25, 0.5].map((g) => [`gap_lt_${g}`, gaps.filter((x) => x < g).length])),
  navaja_kv: args.kv,
  navaja_seconds: navajaSeconds,
  llama_cpp_seconds: llamaSeconds,
  llama_cpp_version: `${release.repo}@${release.release}`,
  node_llama_cpp_version: JSON.parse(
    readFileSync(new URL("./node_modules/node-llama-cpp/package.json", import.meta.url), "utf8"),
  ).version,
  llama_cpp_build: `${llama.buildType}, gpu ${llama.gpu}, ${context.currentThreads} threads`,
};
console.log(JSON.stringify(report, null, 2));
await context.dispose();
await model.dispose();
await llama.dispose();
