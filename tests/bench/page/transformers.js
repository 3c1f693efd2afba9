// @huggingface/transformers (onnxruntime-web) from tests/bench/node_modules,
// on its `wasm` or `webgpu` backend, reading the model folder that
// tests/bench/run.mjs assembles under /models/bench/ (the same tokenizer and
// config as navaja's MiniLM, with the int8 ONNX export of the same model).
// Nothing is fetched from a hub: remote models are off and the onnxruntime
// wasm files come from node_modules.
import { median, texts } from './common.js';

const DIST = '/tests/bench/node_modules/@huggingface/transformers/dist/transformers.js';
const ORT_WASM = '/tests/bench/node_modules/onnxruntime-web/dist/';

export async function embed({ modelRoot, modelName, device, dtype, threads, prose, batch, words, repeats, warmup }) {
  const { pipeline, env } = await import(DIST);
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = modelRoot;
  env.useBrowserCache = false;
  env.backends.onnx.wasm.wasmPaths = ORT_WASM;
  env.backends.onnx.wasm.numThreads = threads;
  const t0 = performance.now();
  const extractor = await pipeline('feature-extraction', modelName, { device, dtype });
  const load_ms = performance.now() - t0;
  const input = texts(prose, batch, words);
  const options = { pooling: 'mean', normalize: true };
  const first = await extractor(input.slice(0, warmup), options);
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await extractor(input, options);
    times.push(performance.now() - t);
  }
  const dim = first.dims[1];
  const rows = first.tolist();
  await extractor.dispose?.();
  return {
    load_ms,
    batch_ms: times,
    texts_per_s: batch / (median(times) / 1000),
    embeddings: [rows[0], rows[1]],
    dim,
    config: `${device}, ${dtype} ONNX, ${threads} thread${threads === 1 ? '' : 's'}`,
  };
}
