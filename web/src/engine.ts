/**
 * The public Engine: OpenAI-style chat completions, completions, embeddings
 * and rerank over a Backend (in a Worker or on this thread). This layer
 * validates arguments, runs one operation at a time, turns AbortSignals into
 * `aborted` errors and shapes results into OpenAI's objects.
 */
import { NavajaError, abortError, toNavajaError } from './errors.js';
import type { Backend, BackendSource, GenerateRequest, GenerateResponse } from './protocol.js';
import type {
  AdapterInfo,
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  Completion,
  CompletionChunk,
  CompletionRequest,
  CompletionUsage,
  EmbeddingModelInfo,
  EmbeddingRequest,
  EmbeddingResponse,
  FinishReason,
  KvCacheType,
  LanguageModelInfo,
  LoadOptions,
  ModelInfo,
  ModelSource,
  NavajaDetails,
  RerankRequest,
  RerankResponse,
  SamplingOptions,
} from './types.js';
import { AsyncQueue } from './stream.js';

const KV_TYPES: ReadonlySet<string> = new Set<KvCacheType>(['f32', 'f16', 'q8', 'q4']);
const CACHE_KINDS: ReadonlySet<string> = new Set(['cache-api', 'opfs', 'none']);
const ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant']);

function invalid(message: string): NavajaError {
  return new NavajaError('invalid-argument', message);
}

function checkNumber(name: string, v: unknown, min: number, max: number, integer = false): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw invalid(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${String(v)}`);
  }
}

/** `sha256-<base64>` or 64 hex digits -> lowercase hex. */
export function parseIntegrity(integrity: string): string {
  const hex = /^[0-9a-fA-F]{64}$/;
  if (hex.test(integrity)) return integrity.toLowerCase();
  const m = /^sha256-([A-Za-z0-9+/]{43}=?)$/.exec(integrity.trim());
  if (m) {
    const bytes = atob(m[1].endsWith('=') ? m[1] : `${m[1]}=`);
    return Array.from(bytes, (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
  }
  throw invalid(`integrity must be "sha256-<base64>" or 64 hex digits, got ${JSON.stringify(integrity)}`);
}

function toBackendSource(source: ModelSource): BackendSource {
  if (typeof source === 'string' || source instanceof URL) {
    const base = (globalThis as { location?: Location }).location?.href;
    let url: URL;
    try {
      url = new URL(String(source), base);
    } catch {
      throw invalid(`not a valid model URL: ${String(source)}`);
    }
    return { kind: 'url', url: url.href };
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) return { kind: 'blob', blob: source };
  if (source instanceof ArrayBuffer) return { kind: 'buffer', buffer: source, offset: 0, length: source.byteLength };
  if (ArrayBuffer.isView(source) && source.buffer instanceof ArrayBuffer) {
    return { kind: 'buffer', buffer: source.buffer, offset: source.byteOffset, length: source.byteLength };
  }
  if (typeof ReadableStream !== 'undefined' && source instanceof ReadableStream) return { kind: 'stream', stream: source };
  throw invalid('load(source): source must be a URL, a Blob or File, an ArrayBuffer or a ReadableStream');
}

function messageText(m: ChatMessage, i: number): string {
  if (typeof m.content === 'string') return m.content;
  if (Array.isArray(m.content)) {
    return m.content
      .map((part, j) => {
        if (part?.type !== 'text' || typeof part.text !== 'string') {
          throw invalid(`messages[${i}].content[${j}]: only text parts are supported`);
        }
        return part.text;
      })
      .join('');
  }
  throw invalid(`messages[${i}].content must be a string or an array of text parts`);
}

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** The sampling fields of an OpenAI-style request, checked, as the engine reads them. */
function samplingRequest(r: SamplingOptions): Omit<GenerateRequest, 'prompt' | 'messages'> {
  if (r.n !== undefined && r.n !== 1) throw invalid('n: only one choice per request is supported');
  checkNumber('max_tokens', r.max_tokens, 1, 1 << 20, true);
  checkNumber('temperature', r.temperature, 0, 100);
  checkNumber('top_p', r.top_p, 0, 1);
  checkNumber('top_k', r.top_k, 0, 1 << 20, true);
  checkNumber('min_p', r.min_p, 0, 1);
  checkNumber('presence_penalty', r.presence_penalty, -2, 2);
  checkNumber('frequency_penalty', r.frequency_penalty, -2, 2);
  checkNumber('repeat_penalty', r.repeat_penalty, Number.MIN_VALUE, 100);
  checkNumber('seed', r.seed, 0, Number.MAX_SAFE_INTEGER, true);
  const stop = r.stop === undefined ? [] : typeof r.stop === 'string' ? [r.stop] : r.stop;
  if (!Array.isArray(stop) || stop.some((s) => typeof s !== 'string' || s === '')) {
    throw invalid('stop must be a non-empty string or an array of them');
  }
  const logitBias: Array<[number, number]> = [];
  for (const [id, bias] of Object.entries(r.logit_bias ?? {})) {
    const token = Number(id);
    if (!Number.isInteger(token) || token < 0 || typeof bias !== 'number' || Number.isNaN(bias)) {
      throw invalid(`logit_bias: ${JSON.stringify(id)}: ${String(bias)} is not a token id and a number`);
    }
    // OpenAI: -100 bans the token.
    logitBias.push([token, bias <= -100 ? -Infinity : bias]);
  }
  if (r.signal !== undefined && !(r.signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal');
  return {
    max_tokens: r.max_tokens,
    temperature: r.temperature,
    top_p: r.top_p,
    top_k: r.top_k,
    min_p: r.min_p,
    presence_penalty: r.presence_penalty,
    frequency_penalty: r.frequency_penalty,
    repeat_penalty: r.repeat_penalty,
    logit_bias: logitBias,
    seed: r.seed ?? randomSeed(),
    stop,
  };
}

function usage(g: GenerateResponse): CompletionUsage {
  return {
    prompt_tokens: g.prompt_tokens,
    completion_tokens: g.completion_tokens,
    total_tokens: g.prompt_tokens + g.completion_tokens,
    prompt_tokens_details: { cached_tokens: g.cached_tokens },
  };
}

function details(g: GenerateResponse): NavajaDetails {
  return { token_ids: g.token_ids, cached_tokens: g.cached_tokens, seed: g.seed, timings: g.timings };
}

/** Either signal aborts the result. */
function anySignal(a: AbortSignal | undefined, b: AbortSignal): AbortSignal {
  if (!a) return b;
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([a, b]);
  const c = new AbortController();
  for (const s of [a, b]) {
    if (s.aborted) c.abort();
    else s.addEventListener('abort', () => c.abort(), { once: true });
  }
  return c.signal;
}

let counter = 0;
function newId(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}${counter.toString(36)}`;
}

/**
 * An engine owns one GPU device and the models loaded on it: one language
 * model and one embedding model (or cross-encoder) at a time, both at once.
 */
export class Engine {
  readonly adapter: AdapterInfo;
  /** Where the engine runs. */
  readonly mode: 'worker' | 'main-thread';
  /** The loaded language model, or null. */
  model: LanguageModelInfo | null = null;
  /** The loaded embedding model (or cross-encoder), or null. */
  embeddingModel: EmbeddingModelInfo | null = null;

  readonly chat: {
    completions: {
      create(request: ChatCompletionRequest & { stream: true }): Promise<AsyncIterableIterator<ChatCompletionChunk>>;
      create(request: ChatCompletionRequest & { stream?: false }): Promise<ChatCompletion>;
      create(request: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterableIterator<ChatCompletionChunk>>;
    };
  };
  readonly completions: {
    create(request: CompletionRequest & { stream: true }): Promise<AsyncIterableIterator<CompletionChunk>>;
    create(request: CompletionRequest & { stream?: false }): Promise<Completion>;
    create(request: CompletionRequest): Promise<Completion | AsyncIterableIterator<CompletionChunk>>;
  };
  readonly embeddings: { create(request: EmbeddingRequest): Promise<EmbeddingResponse> };

  #backend: Backend | undefined;
  /** One operation at a time: each waits for the previous one. */
  #queue: Promise<unknown> = Promise.resolve();

  /** @internal use createEngine() */
  constructor(backend: Backend, mode: 'worker' | 'main-thread') {
    this.#backend = backend;
    this.adapter = backend.adapter;
    this.mode = mode;
    const chatCreate = (request: ChatCompletionRequest) => this.#chat(request);
    const completionCreate = (request: CompletionRequest) => this.#completion(request);
    this.chat = { completions: { create: chatCreate as Engine['chat']['completions']['create'] } };
    this.completions = { create: completionCreate as Engine['completions']['create'] };
    this.embeddings = { create: (request) => this.#embeddings(request) };
  }

  /** Whether the device runs f16 arithmetic natively (`shader-f16`). */
  get shaderF16(): boolean {
    return this.#live().shaderF16;
  }

  #live(): Backend {
    if (!this.#backend) throw new NavajaError('disposed', 'this navaja engine was disposed');
    return this.#backend;
  }

  /** Runs `op` after every earlier operation; rejects at once if `signal` already aborted. */
  #enqueue<T>(op: (backend: Backend) => Promise<T>, signal?: AbortSignal, what = 'the request'): Promise<T> {
    const run = this.#queue.then(() => {
      if (signal?.aborted) throw abortError(what);
      return op(this.#live());
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Loads a model from a URL (downloaded and cached, or read from the
   * cache), a Blob/File, an ArrayBuffer (moved to the engine's worker) or a
   * ReadableStream.
   *
   * - A GGUF language model: its weights stream to the GPU as they arrive;
   *   it becomes `engine.model`.
   * - A BERT-family encoder (embedding model or cross-encoder reranker): a
   *   GGUF file (`bert`, `jina-bert-v2`: told apart by the file's header), or
   *   a sentence-transformers / Hugging Face folder given as a URL ending in
   *   `/` (or the URL of its model.safetensors): config.json, tokenizer.json,
   *   model.safetensors and, where present, modules.json, the Pooling
   *   module's config and sentence_bert_config.json. It becomes
   *   `engine.embeddingModel`.
   *
   * A new model replaces the one of its kind, once it is ready; the other
   * kind stays loaded. The result's `kind` says which one it is.
   */
  async load(source: ModelSource, options: LoadOptions = {}): Promise<ModelInfo> {
    const backendSource = toBackendSource(source);
    const { onProgress, kv, contextLength, integrity, cache = 'cache-api', signal } = options;
    if (onProgress !== undefined && typeof onProgress !== 'function') throw invalid('onProgress must be a function');
    if (kv !== undefined && !KV_TYPES.has(kv)) throw invalid(`kv must be one of f32, f16, q8, q4; got ${String(kv)}`);
    checkNumber('contextLength', contextLength, 1, 1 << 24, true);
    if (!CACHE_KINDS.has(cache)) throw invalid(`cache must be 'cache-api', 'opfs' or 'none'; got ${String(cache)}`);
    const sha256 = integrity === undefined ? undefined : parseIntegrity(integrity);
    const report = onProgress ?? (() => {});
    return this.#enqueue(
      async (backend) => {
        const info = await backend.load(backendSource, { kv, contextLength, sha256, cache }, report, signal);
        if (info.kind === 'embedding') this.embeddingModel = info;
        else this.model = info;
        return info;
      },
      signal,
      'the model load',
    );
  }

  /** Frees a model ('llm', 'embedding' or, by default, both). */
  async unload(kind: 'llm' | 'embedding' | 'all' = 'all'): Promise<void> {
    if (kind !== 'llm' && kind !== 'embedding' && kind !== 'all') throw invalid(`unload: unknown kind ${String(kind)}`);
    return this.#enqueue(async (backend) => {
      await backend.unload(kind);
      if (kind !== 'embedding') this.model = null;
      if (kind !== 'llm') this.embeddingModel = null;
    });
  }

  /** Token ids of `text` for the loaded language model (`addSpecial`: with its BOS, when it uses one). */
  async tokenize(text: string, options: { addSpecial?: boolean } = {}): Promise<number[]> {
    if (typeof text !== 'string') throw invalid('tokenize: text must be a string');
    return this.#enqueue((backend) => backend.tokenize(text, options.addSpecial ?? false));
  }

  /** The text of token ids. */
  async detokenize(ids: number[]): Promise<string> {
    if (!Array.isArray(ids) || ids.some((id) => !Number.isInteger(id) || id < 0 || id > 0xffffffff)) {
      throw invalid('detokenize: ids must be an array of token ids');
    }
    return this.#enqueue((backend) => backend.detokenize(ids));
  }

  async #chat(request: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterableIterator<ChatCompletionChunk>> {
    if (!request || !Array.isArray(request.messages) || request.messages.length === 0) {
      throw invalid('chat.completions.create: messages must be a non-empty array');
    }
    const messages = request.messages.map((m, i) => {
      if (!m || !ROLES.has(m.role)) throw invalid(`messages[${i}].role must be "system", "user" or "assistant"`);
      return { role: m.role, content: messageText(m, i) };
    });
    const generate: GenerateRequest = { messages, ...samplingRequest(request) };
    const id = newId('chatcmpl');
    const created = Math.floor(Date.now() / 1000);
    const model = () => this.model?.name ?? 'navaja';
    if (request.stream) {
      return this.#stream(generate, request.signal, (text, first): ChatCompletionChunk => ({
          id,
          object: 'chat.completion.chunk',
          created,
          model: model(),
          choices: [{ index: 0, delta: first ? { role: 'assistant', content: text } : { content: text }, finish_reason: null, logprobs: null }],
        }), (g): ChatCompletionChunk => ({
          id,
          object: 'chat.completion.chunk',
          created,
          model: model(),
          choices: [{ index: 0, delta: {}, finish_reason: g.finish_reason as FinishReason, logprobs: null }],
          usage: usage(g),
          navaja: details(g),
        }));
    }
    return this.#generate(generate, request.signal).then((g) => ({
      id,
      object: 'chat.completion',
      created,
      model: model(),
      choices: [
        { index: 0, message: { role: 'assistant', content: g.text }, finish_reason: g.finish_reason as FinishReason, logprobs: null },
      ],
      usage: usage(g),
      navaja: details(g),
    }));
  }

  async #completion(request: CompletionRequest): Promise<Completion | AsyncIterableIterator<CompletionChunk>> {
    if (!request || typeof request.prompt !== 'string' || request.prompt === '') {
      throw invalid('completions.create: prompt must be a non-empty string');
    }
    const generate: GenerateRequest = {
      prompt: request.prompt,
      add_special: request.add_special ?? true,
      ...samplingRequest(request),
    };
    const id = newId('cmpl');
    const created = Math.floor(Date.now() / 1000);
    const model = () => this.model?.name ?? 'navaja';
    if (request.stream) {
      return this.#stream(generate, request.signal, (text): CompletionChunk => ({
          id,
          object: 'text_completion',
          created,
          model: model(),
          choices: [{ index: 0, text, finish_reason: null, logprobs: null }],
        }), (g): CompletionChunk => ({
          id,
          object: 'text_completion',
          created,
          model: model(),
          choices: [{ index: 0, text: '', finish_reason: g.finish_reason as FinishReason, logprobs: null }],
          usage: usage(g),
          navaja: details(g),
        }));
    }
    return this.#generate(generate, request.signal).then((g) => ({
      id,
      object: 'text_completion',
      created,
      model: model(),
      choices: [{ index: 0, text: g.text, finish_reason: g.finish_reason as FinishReason, logprobs: null }],
      usage: usage(g),
      navaja: details(g),
    }));
  }

  #generate(request: GenerateRequest, signal: AbortSignal | undefined): Promise<GenerateResponse> {
    return this.#enqueue((backend) => backend.generate(request, () => {}, signal), signal, 'the generation');
  }

  /**
   * Starts a generation and returns its chunks as they come. Leaving a
   * `for await` loop early (break, throw) stops the generation.
   */
  #stream<C>(
    request: GenerateRequest,
    signal: AbortSignal | undefined,
    chunk: (text: string, first: boolean) => C,
    last: (g: GenerateResponse) => C,
  ): AsyncIterableIterator<C> {
    const stop = new AbortController();
    const combined = anySignal(signal, stop.signal);
    const queue = new AsyncQueue<C>(() => stop.abort());
    let first = true;
    this.#enqueue(
      (backend) =>
        backend.generate(
          request,
          (text) => {
            queue.push(chunk(text, first));
            first = false;
          },
          combined,
        ),
      combined,
      'the generation',
    ).then(
      (g) => {
        queue.push(last(g));
        queue.end();
      },
      (error: unknown) => queue.fail(toNavajaError(error)),
    );
    return queue;
  }

  async #embeddings(request: EmbeddingRequest): Promise<EmbeddingResponse> {
    const input = request?.input;
    const texts = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(texts) || texts.length === 0 || texts.some((t) => typeof t !== 'string')) {
      throw invalid('embeddings.create: input must be a string or a non-empty array of strings');
    }
    if (request.encoding_format !== undefined && request.encoding_format !== 'float') {
      throw invalid('embeddings.create: only encoding_format "float" is supported');
    }
    return this.#enqueue((backend) => backend.embed(texts, request.signal), request.signal, 'the embedding').then((r) => ({
      object: 'list',
      data: texts.map((_, index) => ({
        object: 'embedding',
        index,
        embedding: Array.from(r.embeddings.subarray(index * r.dim, (index + 1) * r.dim)),
      })),
      model: this.embeddingModel?.name ?? 'navaja',
      usage: { prompt_tokens: r.prompt_tokens, total_tokens: r.prompt_tokens },
    }));
  }

  /**
   * Ranks `documents` by relevance to `query`, best first. With a
   * cross-encoder loaded (`embeddingModel.reranker`), its score of each
   * (query, document) pair; with an embedding model, the cosine similarity
   * of their embeddings.
   */
  async rerank(request: RerankRequest): Promise<RerankResponse> {
    const { query, documents, top_n } = request ?? {};
    if (typeof query !== 'string' || !Array.isArray(documents) || documents.some((d) => typeof d !== 'string')) {
      throw invalid('rerank: query must be a string and documents an array of strings');
    }
    checkNumber('top_n', top_n, 1, Number.MAX_SAFE_INTEGER, true);
    const respond = (scores: ArrayLike<number>, promptTokens: number): RerankResponse => {
      const scored = documents.map((document, index) => ({ index, relevance_score: scores[index], document }));
      scored.sort((a, b) => b.relevance_score - a.relevance_score);
      return {
        object: 'list',
        results: scored.slice(0, top_n ?? scored.length),
        model: this.embeddingModel?.name ?? 'navaja',
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      };
    };
    if (documents.length === 0) return respond([], 0);
    return this.#enqueue(
      async (backend) => {
        if (this.embeddingModel?.reranker) {
          const r = await backend.rerank(query, documents, request.signal);
          return respond(r.scores, r.prompt_tokens);
        }
        const r = await backend.embed([query, ...documents], request.signal);
        const { dim, embeddings: e } = r;
        const q = e.subarray(0, dim);
        const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
        const qn = norm(q);
        const scores = documents.map((_, i) => {
          const d = e.subarray((i + 1) * dim, (i + 2) * dim);
          return d.reduce((s, v, j) => s + v * q[j], 0) / (qn * norm(d));
        });
        return respond(scores, r.prompt_tokens);
      },
      request.signal,
      'the rerank',
    );
  }

  /**
   * Row-wise RMSNorm on the GPU: `x` holds rows of `weight.length` values;
   * `y = x / sqrt(mean(x^2) + eps) * weight`. (A kernel check for the demo and tests.)
   */
  rmsNorm(x: Float32Array, weight: Float32Array, eps = 1e-6): Promise<Float32Array> {
    if (!(x instanceof Float32Array) || !(weight instanceof Float32Array)) {
      return Promise.reject(invalid('rmsNorm: x and weight must be Float32Arrays'));
    }
    return this.#enqueue((backend) => backend.rmsNorm(x, weight, eps));
  }

  /**
   * @internal Destroys the GPU device at once (not after queued work), as a
   * driver reset would: for tests that a lost device is reported, not a hang.
   */
  _loseDeviceForTesting(): Promise<void> {
    return this.#live().loseDeviceForTesting();
  }

  /** Releases the models and the GPU device (and the worker). The engine cannot be used afterwards. */
  async dispose(): Promise<void> {
    const backend = this.#backend;
    if (!backend) return;
    await this.#queue;
    this.#backend = undefined;
    this.model = null;
    this.embeddingModel = null;
    await backend.dispose();
  }
}
