/**
 * The page's side of the Worker: every Backend call becomes a message to
 * worker.ts, its progress and streamed text come back as messages, and an
 * AbortSignal becomes an `abort` message.
 */
import { NavajaError, abortError, deserializeError, toNavajaError } from './errors.js';
import type {
  Backend,
  BackendLoadOptions,
  BackendMethod,
  BackendSource,
  Embeddings,
  FromWorker,
  GenerateRequest,
  GenerateResponse,
  RerankScores,
  ToWorker,
  WorkerInit,
} from './protocol.js';
import type { AdapterInfo, LoadProgress, ModelInfo } from './types.js';

interface Pending {
  resolve(value: unknown): void;
  reject(error: NavajaError): void;
  onProgress?: (p: LoadProgress) => void;
  onText?: (text: string) => void;
}

export class WorkerBackend implements Backend {
  readonly adapter: AdapterInfo;
  readonly shaderF16: boolean;
  #worker: Worker;
  #ownsWorker: boolean;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #broken: NavajaError | undefined;

  private constructor(worker: Worker, owns: boolean, adapter: AdapterInfo, shaderF16: boolean) {
    this.#worker = worker;
    this.#ownsWorker = owns;
    this.adapter = adapter;
    this.shaderF16 = shaderF16;
    worker.addEventListener('message', (event: MessageEvent<FromWorker>) => this.#receive(event.data));
    worker.addEventListener('error', (event) => this.#fail(`the navaja worker failed: ${event.message ?? 'unknown error'}`));
  }

  /** Starts the engine in `worker` and waits until it has a GPU device. */
  static create(worker: Worker, owns: boolean, options: WorkerInit): Promise<WorkerBackend> {
    return new Promise((resolve, reject) => {
      const onMessage = (event: MessageEvent<FromWorker>) => {
        const m = event.data;
        if (m.type === 'ready') {
          cleanup();
          resolve(new WorkerBackend(worker, owns, m.adapter, m.shaderF16));
        } else if (m.type === 'init-error') {
          cleanup();
          if (owns) worker.terminate();
          reject(deserializeError(m.error));
        }
      };
      const onError = (event: ErrorEvent) => {
        cleanup();
        if (owns) worker.terminate();
        reject(new NavajaError('gpu', `could not start the navaja worker: ${event.message || 'the script failed to load'}`));
      };
      const cleanup = () => {
        worker.removeEventListener('message', onMessage);
        worker.removeEventListener('error', onError);
      };
      worker.addEventListener('message', onMessage);
      worker.addEventListener('error', onError);
      worker.postMessage({ type: 'init', options } satisfies ToWorker);
    });
  }

  #receive(m: FromWorker): void {
    if (m.type === 'ready' || m.type === 'init-error') return;
    const pending = this.#pending.get(m.id);
    if (!pending) return;
    switch (m.type) {
      case 'progress':
        pending.onProgress?.(m.progress);
        break;
      case 'text':
        pending.onText?.(m.text);
        break;
      case 'result':
        this.#pending.delete(m.id);
        pending.resolve(m.value);
        break;
      case 'error':
        this.#pending.delete(m.id);
        pending.reject(deserializeError(m.error));
        break;
    }
  }

  /** The worker died: every call, now and later, fails instead of hanging. */
  #fail(message: string): void {
    this.#broken ??= new NavajaError('gpu', message);
    for (const pending of this.#pending.values()) pending.reject(this.#broken);
    this.#pending.clear();
  }

  #call<T>(
    method: BackendMethod,
    args: unknown[],
    extra: { onProgress?: (p: LoadProgress) => void; onText?: (t: string) => void; signal?: AbortSignal; transfer?: Transferable[] } = {},
  ): Promise<T> {
    if (this.#broken) return Promise.reject(this.#broken);
    const { signal } = extra;
    if (signal?.aborted) return Promise.reject(abortError(method === 'load' ? 'the model load' : 'the request'));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => this.#worker.postMessage({ type: 'abort', id } satisfies ToWorker);
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, {
        resolve: (v) => (done(), resolve(v as T)),
        reject: (e) => (done(), reject(e)),
        onProgress: extra.onProgress,
        onText: extra.onText,
      });
      try {
        this.#worker.postMessage({ type: 'call', id, method, args } satisfies ToWorker, extra.transfer ?? []);
      } catch (error) {
        this.#pending.delete(id);
        done();
        reject(toNavajaError(error));
      }
    });
  }

  async load(
    source: BackendSource,
    options: BackendLoadOptions,
    onProgress: (p: LoadProgress) => void,
    signal?: AbortSignal,
  ): Promise<ModelInfo> {
    if (source.kind === 'buffer') {
      // Moved, not copied: the page does not keep a second copy of the model.
      return this.#call('load', [source, options], { onProgress, signal, transfer: [source.buffer] });
    }
    if (source.kind === 'stream') {
      try {
        return await this.#call('load', [source, options], { onProgress, signal, transfer: [source.stream] });
      } catch (error) {
        if (!(error instanceof NavajaError && /could not be cloned|DataCloneError/i.test(error.message))) throw error;
        // This browser cannot move streams to a Worker: hand over a Blob
        // instead (browsers keep large Blobs on disk, not in the page's memory).
        const blob = await new Response(source.stream).blob();
        return this.#call('load', [{ kind: 'blob', blob }, options], { onProgress, signal });
      }
    }
    return this.#call('load', [source, options], { onProgress, signal });
  }

  generate(request: GenerateRequest, onText: (text: string) => void, signal?: AbortSignal): Promise<GenerateResponse> {
    return this.#call('generate', [request], { onText, signal });
  }

  tokenize(text: string, addSpecial: boolean): Promise<number[]> {
    return this.#call('tokenize', [text, addSpecial]);
  }

  detokenize(ids: number[]): Promise<string> {
    return this.#call('detokenize', [ids]);
  }

  embed(texts: string[], signal?: AbortSignal): Promise<Embeddings> {
    return this.#call('embed', [texts], { signal });
  }

  rerank(query: string, documents: string[], signal?: AbortSignal): Promise<RerankScores> {
    return this.#call('rerank', [query, documents], { signal });
  }

  unload(kind: 'llm' | 'embedding' | 'all'): Promise<void> {
    return this.#call('unload', [kind]);
  }

  rmsNorm(x: Float32Array, weight: Float32Array, eps: number): Promise<Float32Array> {
    return this.#call('rmsNorm', [x, weight, eps]);
  }

  loseDeviceForTesting(): Promise<void> {
    return this.#call('loseDeviceForTesting', []);
  }

  async dispose(): Promise<void> {
    try {
      if (!this.#broken) await this.#call('dispose', []);
    } finally {
      this.#fail('this navaja engine was disposed');
      this.#broken = new NavajaError('disposed', 'this navaja engine was disposed');
      if (this.#ownsWorker) this.#worker.terminate();
    }
  }
}
