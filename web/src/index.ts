/**
 * navaja: language and embedding models on the user's GPU, through WebGPU.
 *
 * ```ts
 * const engine = await createEngine();
 * await engine.load('/models/SmolLM2-135M-Instruct.Q4_1.gguf', { onProgress: console.log });
 * const chunks = await engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi!' }], stream: true });
 * for await (const chunk of chunks) out.textContent += chunk.choices[0]?.delta.content ?? '';
 * ```
 *
 * The engine runs in a module Worker by default (worker.ts); this module is
 * the page's thin side of it. Nothing here talks to the network except
 * fetching the package's own files and the models you ask for.
 */
import { NavajaError, toNavajaError } from './errors.js';
import { Engine } from './engine.js';
import { WorkerBackend } from './backend-worker.js';
import type { Backend } from './protocol.js';
import type { CreateEngineOptions } from './types.js';

export { NavajaError } from './errors.js';
export type { NavajaErrorCode } from './errors.js';
export { Engine } from './engine.js';
export type * from './types.js';

function noWebGpu(): NavajaError {
  return new NavajaError(
    'webgpu-unavailable',
    'WebGPU is not available in this browser. Use a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled, ' +
      'and serve the page over https or from localhost.',
  );
}

async function mainThreadBackend(options: CreateEngineOptions): Promise<Backend> {
  // Loaded only when asked for: in worker mode the page never downloads the wasm glue.
  const { LocalBackend } = await import('./backend-local.js');
  return LocalBackend.create(options);
}

/**
 * Opens the GPU (or, with `backend: 'cpu'` or `'auto'`, possibly the CPU
 * backend) and starts an engine, in a Worker unless `worker: false`.
 * With the default `backend: 'webgpu'`, rejects with a NavajaError whose
 * code is `webgpu-unavailable` where the browser has no WebGPU (or no adapter).
 */
export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const backend = options.backend ?? 'webgpu';
  if (!['webgpu', 'cpu', 'auto'].includes(backend)) {
    throw new NavajaError('invalid-argument', `backend must be 'webgpu', 'cpu' or 'auto', not ${JSON.stringify(backend)}`);
  }
  if (backend === 'webgpu' && !(globalThis.navigator as Navigator | undefined)?.gpu) throw noWebGpu();
  const wasmUrl = options.wasmUrl === undefined ? undefined : new URL(String(options.wasmUrl), globalThis.location?.href).href;
  const init = { allowShaderF16: options.allowShaderF16 ?? true, wasmUrl, backend };
  const worker = options.worker ?? true;
  if (worker === false) {
    return new Engine(await mainThreadBackend(init).catch((e: unknown) => Promise.reject(toNavajaError(e))), 'main-thread');
  }
  if (typeof Worker === 'undefined') {
    console.warn('navaja: this environment has no Web Workers; running on the main thread');
    return new Engine(await mainThreadBackend(init), 'main-thread');
  }
  const owns = worker === true;
  const target = owns ? new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'navaja' }) : worker;
  try {
    return new Engine(await WorkerBackend.create(target, owns, init), 'worker');
  } catch (error) {
    const e = toNavajaError(error);
    // Some browsers have WebGPU on the page but not in workers: run here instead.
    if (owns && e.code === 'webgpu-unavailable') {
      console.warn(`navaja: ${e.message} Running on the main thread instead.`);
      return new Engine(await mainThreadBackend(init), 'main-thread');
    }
    throw e;
  }
}
