/**
 * What the public Engine asks of the engine proper, wherever it runs: on
 * this thread (LocalBackend) or in a Worker (WorkerBackend, which forwards
 * every call as a message to worker.ts). Everything here is
 * structured-clonable, so the same calls cross postMessage unchanged.
 */
import type { SerializedError } from './errors.js';
import type { AdapterInfo, EngineBackend, KvCacheType, LoadProgress, ModelCacheKind, ModelInfo } from './types.js';

/** A generation request as crates/navaja-web/src/requests.rs reads it. */
export interface GenerateRequest {
  prompt?: string;
  messages?: Array<{ role: string; content: string }>;
  add_special?: boolean;
  max_tokens?: number;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  repeat_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  /** (token id, bias) pairs; -Infinity bans. */
  logit_bias: Array<[number, number]>;
  seed: number;
  stop: string[];
}

/** What crates/navaja-web/src/requests.rs returns for a generation. */
export interface GenerateResponse {
  text: string;
  token_ids: number[];
  finish_reason: 'stop' | 'length' | 'aborted';
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  seed: number;
  timings: {
    prefill_tokens: number;
    prefill_ms: number;
    prefill_tokens_per_s: number;
    decode_tokens: number;
    decode_ms: number;
    decode_tokens_per_s: number;
  };
}

/** A model source made ready to cross into a Worker. */
export type BackendSource =
  | { kind: 'url'; url: string }
  | { kind: 'blob'; blob: Blob }
  | { kind: 'buffer'; buffer: ArrayBuffer; offset: number; length: number }
  | { kind: 'stream'; stream: ReadableStream<Uint8Array> };

export interface BackendLoadOptions {
  kv?: KvCacheType;
  contextLength?: number;
  /** Lowercase hex SHA-256, already parsed from the `integrity` option. */
  sha256?: string;
  cache: ModelCacheKind;
}

/** What crates/navaja-web returns for `embed`: the vectors one after the other, in input order. */
export interface Embeddings {
  embeddings: Float32Array;
  /** Length of each vector. */
  dim: number;
  prompt_tokens: number;
}

/** A cross-encoder's score of each document, in document order. */
export interface RerankScores {
  scores: Float32Array;
  prompt_tokens: number;
}

export interface Backend {
  readonly adapter: AdapterInfo;
  readonly shaderF16: boolean;
  load(
    source: BackendSource,
    options: BackendLoadOptions,
    onProgress: (p: LoadProgress) => void,
    signal?: AbortSignal,
  ): Promise<ModelInfo>;
  generate(request: GenerateRequest, onText: (text: string) => void, signal?: AbortSignal): Promise<GenerateResponse>;
  tokenize(text: string, addSpecial: boolean): Promise<number[]>;
  detokenize(ids: number[]): Promise<string>;
  embed(texts: string[], signal?: AbortSignal): Promise<Embeddings>;
  /** Scores with the loaded cross-encoder (an embedding model is `unsupported-model`: compare embeddings). */
  rerank(query: string, documents: string[], signal?: AbortSignal): Promise<RerankScores>;
  unload(kind: 'llm' | 'embedding' | 'all'): Promise<void>;
  rmsNorm(x: Float32Array, weight: Float32Array, eps: number): Promise<Float32Array>;
  /** Destroys the GPU device, for tests of what the engine reports then. */
  loseDeviceForTesting(): Promise<void>;
  dispose(): Promise<void>;
}

/** The Backend methods a Worker runs for its page. */
export type BackendMethod =
  | 'load'
  | 'generate'
  | 'tokenize'
  | 'detokenize'
  | 'embed'
  | 'rerank'
  | 'unload'
  | 'rmsNorm'
  | 'loseDeviceForTesting'
  | 'dispose';

export interface WorkerInit {
  allowShaderF16: boolean;
  wasmUrl?: string;
  backend: EngineBackend;
}

/** Page -> Worker. */
export type ToWorker =
  | { type: 'init'; options: WorkerInit }
  | { type: 'call'; id: number; method: BackendMethod; args: unknown[] }
  | { type: 'abort'; id: number };

/** Worker -> page. */
export type FromWorker =
  | { type: 'ready'; adapter: AdapterInfo; shaderF16: boolean }
  | { type: 'init-error'; error: SerializedError }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'progress'; id: number; progress: LoadProgress }
  | { type: 'text'; id: number; text: string };
