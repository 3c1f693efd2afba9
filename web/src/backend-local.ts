/**
 * The engine proper, on the thread that imports it: the wasm module built
 * from crates/navaja-web, model loading (sources, cache, integrity,
 * progress) and generation. In the default set-up this runs inside the
 * Worker (worker.ts); with `createEngine({ worker: false })` on the page.
 */
import initWasm, { WasmEngine, type WasmModelLoad } from './wasm/navaja_web.js';
import { NavajaError, abortError, toNavajaError } from './errors.js';
import { openStore, warn, type CacheWriter } from './cache.js';
import { openSource, type OpenedSource } from './sources.js';
import { encoderFolder, storeFolderFiles, type EncoderFolder } from './folder.js';
import type {
  Backend,
  BackendLoadOptions,
  BackendSource,
  Embeddings,
  GenerateRequest,
  GenerateResponse,
  RerankScores,
} from './protocol.js';
import type { AdapterInfo, EngineBackend, LoadProgress, ModelInfo } from './types.js';

/** Texts per `embed` call into the engine: an abort is noticed between batches. */
const EMBED_BATCH = 64;

let wasmReady: Promise<unknown> | undefined;

function loadWasm(wasmUrl?: string | URL): Promise<unknown> {
  wasmReady ??= initWasm(wasmUrl ? { module_or_path: wasmUrl } : undefined).catch((error: unknown) => {
    wasmReady = undefined; // let a later call retry, e.g. after a network error
    throw new NavajaError('gpu', `could not load navaja's WebAssembly module: ${String(error)}`, { cause: error });
  });
  return wasmReady;
}

/** Asks for the adapter first, for the clearest message where there is none. */
async function requestAdapter(): Promise<GPUAdapter> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  const inWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';
  if (!gpu) {
    throw new NavajaError(
      'webgpu-unavailable',
      inWorker
        ? 'WebGPU is not available in a Web Worker in this browser. Use createEngine({ worker: false }).'
        : 'WebGPU is not available in this browser. Use a recent Chrome, Edge or Safari, or Firefox with WebGPU ' +
          'enabled, and serve the page over https or from localhost.',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) {
    throw new NavajaError(
      'webgpu-unavailable',
      'This browser supports WebGPU but offers no GPU adapter (the GPU may be blocklisted or WebGPU disabled). ' +
        "Check chrome://gpu (or your browser's equivalent), update the GPU driver, or try another browser.",
    );
  }
  return adapter;
}

/**
 * A CPU implementation of WebGPU (SwiftShader, WARP, llvmpipe): the browser
 * says so through `isFallbackAdapter` (newer browsers) or names it.
 */
function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  if (info.isFallbackAdapter) return true;
  const names = [info.vendor, info.architecture, info.device, info.description].join(' ');
  return /swiftshader|llvmpipe|lavapipe|\bwarp\b|basic render/i.test(names);
}

/** Bytes from whatever a stream handed out. */
function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new NavajaError('invalid-argument', 'a model stream must yield Uint8Array (or ArrayBuffer) chunks');
}

/** Calls `report` at most every `ms` milliseconds, plus always for the last call. */
function throttled(report: (p: LoadProgress) => void, ms = 100): (p: LoadProgress, force?: boolean) => void {
  let last = -Infinity;
  return (p, force = false) => {
    const now = performance.now();
    if (force || now - last >= ms) {
      last = now;
      report(p);
    }
  };
}

export class LocalBackend implements Backend {
  readonly adapter: AdapterInfo;
  readonly shaderF16: boolean;
  #wasm: WasmEngine | undefined;

  private constructor(wasm: WasmEngine, browserInfo: GPUAdapterInfo | undefined) {
    this.#wasm = wasm;
    this.shaderF16 = wasm.shaderF16();
    this.adapter = wasm.adapterInfo() as AdapterInfo;
    if (browserInfo) {
      const { vendor, architecture, device, description } = browserInfo;
      this.adapter.browser = { vendor, architecture, device, description };
      // wgpu's WebGPU backend leaves the name empty; browsers describe the adapter instead.
      this.adapter.name ||= description || [vendor, architecture].filter(Boolean).join(' ') || 'WebGPU adapter';
    }
  }

  static async create(options: {
    allowShaderF16?: boolean;
    wasmUrl?: string | URL;
    backend?: EngineBackend;
  }): Promise<LocalBackend> {
    const backend = options.backend ?? 'webgpu';
    let adapter: GPUAdapter | undefined;
    if (backend !== 'cpu') {
      try {
        adapter = await requestAdapter();
      } catch (error) {
        if (backend === 'webgpu') throw error;
      }
    }
    await loadWasm(options.wasmUrl);
    if (!adapter || (backend === 'auto' && isSoftwareAdapter(adapter))) {
      return new LocalBackend(WasmEngine.createCpu(), undefined);
    }
    try {
      return new LocalBackend(await WasmEngine.create(options.allowShaderF16 ?? true), adapter.info);
    } catch (error) {
      throw toNavajaError(error);
    }
  }

  async load(
    source: BackendSource,
    options: BackendLoadOptions,
    onProgress: (p: LoadProgress) => void,
    signal?: AbortSignal,
  ): Promise<ModelInfo> {
    const start = performance.now();
    this.#engine(); // disposed: fail before opening anything
    const store = source.kind === 'url' ? openStore(options.cache) : null;
    // A sentence-transformers / Hugging Face folder (a URL ending in / or in
    // .safetensors): its small text files first, then model.safetensors.
    const folder = source.kind === 'url' ? await encoderFolder(source.url, store, signal) : null;
    if (folder) source = { kind: 'url', url: folder.weightsUrl };
    const opened = await openSource(source, store, signal);
    try {
      return await this.#loadFrom(opened, options, onProgress, signal, start, folder);
    } catch (error) {
      const e = toNavajaError(error);
      // A cached copy that does not load (damaged on disk, or the file changed
      // and integrity says so): forget it and download again, once.
      if (opened.from === 'cache' && store && source.kind === 'url' && (e.code === 'model-format' || e.code === 'integrity')) {
        warn(`the cached copy of ${source.url} cannot be used (${e.message}); downloading it again`);
        await store.delete(source.url);
        const fresh = await openSource(source, store, signal, { readCache: false });
        return this.#loadFrom(fresh, options, onProgress, signal, start, folder);
      }
      throw e;
    }
  }
  async #loadFrom(
    opened: OpenedSource,
    options: BackendLoadOptions,
    onProgress: (p: LoadProgress) => void,
    signal: AbortSignal | undefined,
    start: number,
    folder: EncoderFolder | null,
  ): Promise<ModelInfo> {
    const wasm = this.#engine();
    const progress = throttled(onProgress);
    const { total, phase } = opened;
    let cache: CacheWriter | null = opened.cacheWriter;
    const dropCache = async (why: string, error?: unknown) => {
      if (!cache) return;
      const writer = cache;
      cache = null;
      if (why) warn(why, error);
      await writer.abort().catch(() => {});
    };
    let load: WasmModelLoad | undefined;
    const reader = opened.stream.getReader();
    let loaded = 0;
    try {
      load = wasm.beginLoad(total ?? undefined, folder ? 'safetensors' : 'gguf');
      progress({ phase, loaded, total }, true);
      for (;;) {
        if (signal?.aborted) throw abortError('the model load');
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          if (signal?.aborted) throw abortError('the model load');
          if (opened.from !== 'network') throw toNavajaError(error);
          throw new NavajaError(
            'network',
            `the model download broke off after ${loaded} bytes: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
        }
        if (next.done) break;
        const chunk = asBytes(next.value);
        try {
          load.push(chunk);
        } catch (error) {
          const e = toNavajaError(error);
          if (e.code === 'model-format' && opened.html) {
            throw new NavajaError('model-format', `${e.message} (the server sent an HTML page: check the model URL)`);
          }

          throw e;
        }
        if (cache) {
          try {
            await cache.write(chunk);
          } catch (error) {
            await dropCache('storing the model failed (storage quota?); it will not be cached', error);
          }
        }
        loaded += chunk.byteLength;
        progress({ phase, loaded, total });
      }
      const sha256 = load.sha256();
      if (options.sha256 && sha256 !== options.sha256) {
        throw new NavajaError(
          'integrity',
          `the model file's SHA-256 is ${sha256}, but integrity asks for ${options.sha256}: ` +
            'the file changed on the server, or the integrity value is wrong',
        );
      }
      progress({ phase: 'init', loaded, total }, true);
      const finishing = load;
      load = undefined; // finishLoad takes it over, success or not
      const info = (await wasm.finishLoad(finishing, {
        context_length: options.contextLength,
        kv: options.kv,
        encoder_files: folder?.files,
      })) as Omit<ModelInfo, 'sha256' | 'loaded_from' | 'load_ms'>;
      if (cache) {
        const writer = cache;
        cache = null;
        await writer.commit().catch((error: unknown) => warn('storing the model failed; it will not be cached', error));
      }
      if (folder) await storeFolderFiles(folder);
      progress({ phase: 'ready', loaded, total: total ?? loaded }, true);
      // A folder's config names the model it was trained from (`_name_or_path`): its own name is the folder's.
      const name = folder?.name ?? info.name ?? null;
      return { ...info, name, sha256, loaded_from: opened.from, load_ms: performance.now() - start } as ModelInfo;
    } catch (error) {
      await reader.cancel().catch(() => {});
      await dropCache('');
      throw toNavajaError(error);
    } finally {
      load?.free();
    }
  }

  async generate(request: GenerateRequest, onText: (text: string) => void, signal?: AbortSignal): Promise<GenerateResponse> {
    if (signal?.aborted) throw abortError('the generation');
    let result: GenerateResponse;
    try {
      result = (await this.#engine().generate(request, (text: string) => {
        if (signal?.aborted) return false;
        onText(text);
        return true;
      })) as GenerateResponse;
    } catch (error) {
      throw toNavajaError(error);
    }
    if (result.finish_reason === 'aborted') throw abortError('the generation');
    return result;
  }

  async tokenize(text: string, addSpecial: boolean): Promise<number[]> {
    try {
      return Array.from(this.#engine().tokenize(text, addSpecial));
    } catch (error) {
      throw toNavajaError(error);
    }
  }

  async detokenize(ids: number[]): Promise<string> {
    try {
      return this.#engine().detokenize(Uint32Array.from(ids));
    } catch (error) {
      throw toNavajaError(error);
    }
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<Embeddings> {
    const wasm = this.#engine();
    const parts: Float32Array[] = [];
    let promptTokens = 0;
    try {
      for (let i = 0; i < texts.length; i += EMBED_BATCH) {
        if (signal?.aborted) throw abortError('the embedding');
        const r = (await wasm.embed(texts.slice(i, i + EMBED_BATCH))) as { embeddings: Float32Array; prompt_tokens: number };
        parts.push(r.embeddings);
        promptTokens += r.prompt_tokens;
      }
    } catch (error) {
      throw toNavajaError(error);
    }
    const embeddings = parts.length === 1 ? parts[0] : new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    if (parts.length > 1) parts.reduce((at, p) => (embeddings.set(p, at), at + p.length), 0);
    return { embeddings, dim: texts.length ? embeddings.length / texts.length : 0, prompt_tokens: promptTokens };
  }

  async rerank(query: string, documents: string[], signal?: AbortSignal): Promise<RerankScores> {
    const wasm = this.#engine();
    const scores = new Float32Array(documents.length);
    let promptTokens = 0;
    try {
      for (let i = 0; i < documents.length; i += EMBED_BATCH) {
        if (signal?.aborted) throw abortError('the rerank');
        const r = (await wasm.rerank(query, documents.slice(i, i + EMBED_BATCH))) as { scores: Float32Array; prompt_tokens: number };
        scores.set(r.scores, i);
        promptTokens += r.prompt_tokens;
      }
    } catch (error) {
      throw toNavajaError(error);
    }
    return { scores, prompt_tokens: promptTokens };
  }

  async unload(kind: 'llm' | 'embedding' | 'all'): Promise<void> {
    const wasm = this.#engine();
    if (kind !== 'embedding') wasm.unloadModel();
    if (kind !== 'llm') wasm.unloadEmbeddingModel();
  }

  async rmsNorm(x: Float32Array, weight: Float32Array, eps: number): Promise<Float32Array> {
    try {
      return await this.#engine().rmsNorm(x, weight, eps);
    } catch (error) {
      throw toNavajaError(error);
    }
  }

  async loseDeviceForTesting(): Promise<void> {
    this.#engine().loseDeviceForTesting();
  }

  async dispose(): Promise<void> {
    this.#wasm?.free();
    this.#wasm = undefined;
  }

  #engine(): WasmEngine {
    if (!this.#wasm) throw new NavajaError('disposed', 'this navaja engine was disposed');
    return this.#wasm;
  }
}
