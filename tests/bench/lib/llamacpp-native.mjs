#!/usr/bin/env node
// llama.cpp natively (node-llama-cpp's prebuilt CPU binaries, no compile):
// one run of the same measurement `navaja bench` makes, on the same token
// ids: prefill the prompt, then greedy-decode N tokens. Run as its own
// process per run, so threads and memory are its own. Prints one JSON line.
//
//   node llamacpp-native.mjs MODEL IDS_JSON DECODE_TOKENS THREADS
import { readFileSync } from 'node:fs';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const [modelPath, idsFile, decodeArg, threadsArg] = process.argv.slice(2);
const ids = JSON.parse(readFileSync(idsFile, 'utf8'));
const decodeTokens = Number(decodeArg);
const threads = Number(threadsArg);

const t0 = performance.now();
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 512, batchSize: 512, sequences: 1, threads });
const load_ms = performance.now() - t0;
const sequence = context.getSequence();

// Warm-up: one short evaluation (allocates the compute buffers), then clear.
for await (const _ of sequence.evaluate(ids.slice(0, 8), { temperature: 0 })) break;
await sequence.clearHistory();

const start = performance.now();
let first = null;
let last = null;
let n = 0;
for await (const _token of sequence.evaluate(ids, { temperature: 0 })) {
  const now = performance.now();
  if (first === null) first = now;
  last = now;
  if (++n >= decodeTokens) break;
}
const prefillSeconds = (first - start) / 1000;
const release = llama.llamaCppRelease;
console.log(JSON.stringify({
  load_ms,
  ttft_ms: first - start,
  prefill_tokens_per_s: ids.length / prefillSeconds,
  decode_tokens_per_s: (n - 1) / ((last - first) / 1000),
  prompt_tokens: ids.length,
  completion_tokens: n,
  threads: context.currentThreads,
  llama_cpp: `${release.repo}@${release.release}`,
  build: `${llama.buildType}, gpu ${llama.gpu}`,
}));
await context.dispose();
await model.dispose();
await llama.dispose();
