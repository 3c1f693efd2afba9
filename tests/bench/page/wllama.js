// @wllama/wllama (llama.cpp compiled to wasm) from tests/bench/node_modules,
// loaded from the same localhost URL as navaja's model. `gpu: false` is its
// CPU wasm build (n_gpu_layers 0); `gpu: true` asks for its WebGPU backend
// (all layers), which it drops where the adapter lacks what it needs: its
// own log, returned as `log`, says which backend ran.
import { timeStream } from './common.js';

const WLLAMA = '/tests/bench/node_modules/@wllama/wllama/esm';

export async function llm({ modelUrl, prompt, decodeTokens, gpu, threads }) {
  const { Wllama } = await import(`${WLLAMA}/index.js`);
  const log = [];
  const keep = (...a) => log.push(a.map(String).join(' '));
  const logger = { debug: keep, log: keep, warn: keep, error: keep };
  const t0 = performance.now();
  const wllama = new Wllama({ default: `${WLLAMA}/wasm/wllama.wasm` }, { logger, allowOffline: true });
  const blob = await (await fetch(modelUrl)).blob();
  await wllama.loadModel([new File([blob], 'model.gguf')], {
    n_ctx: 1024,
    n_threads: threads,
    n_gpu_layers: gpu ? 99999 : 0,
    n_parallel: 1,
  });
  const load_ms = performance.now() - t0;
  const w0 = performance.now();
  await wllama.createCompletion({ prompt: 'Hello', max_tokens: 1, temperature: 0 });
  const warmup_ms = performance.now() - w0;
  let last;
  const run = await timeStream(async (onChunk) => {
    const stream = await wllama.createCompletion({ prompt, max_tokens: decodeTokens, temperature: 0, stream: true, cache_prompt: false });
    for await (const chunk of stream) {
      if (chunk.choices?.[0]?.text) onChunk();
      last = chunk.timings || chunk.usage ? chunk : last;
    }
    return {
      prompt_tokens: last?.usage?.prompt_tokens ?? last?.timings?.prompt_n,
      completion_tokens: last?.usage?.completion_tokens ?? last?.timings?.predicted_n,
      prefill_ms: last?.timings?.prompt_ms,
      engine_prefill_tokens_per_s: last?.timings?.prompt_per_second,
      engine_decode_tokens_per_s: last?.timings?.predicted_per_second,
    };
  });
  const threadsUsed = wllama.getNumThreads?.();
  const multithread = wllama.isMultithread?.();
  await wllama.exit();
  const backendLines = log.filter((l) => /webgpu|wgpu|shader|f16|CPU|backend|offload/i.test(l)).slice(0, 40);
  return {
    ...run,
    load_ms,
    warmup_ms,
    prefill_tokens_per_s: run.prompt_tokens / (run.prefill_ms / 1000),
    threads: threadsUsed,
    multithread,
    config: `${gpu ? 'WebGPU build requested' : 'CPU wasm'}, ${threadsUsed} thread${threadsUsed === 1 ? '' : 's'}${multithread ? ' (multi-threaded)' : ''}`,
    log: backendLines,
  };
}
