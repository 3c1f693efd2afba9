/**
 * The public types of navaja's API. Requests and responses follow OpenAI's
 * chat completions, completions and embeddings shapes; what navaja adds is in
 * a `navaja` field (token ids, timings, the seed used).
 */

/** The limits of the adapter that navaja's kernels depend on. */
export interface AdapterLimits {
  max_storage_buffer_binding_size: number;
  max_buffer_size: number;
  max_uniform_buffer_binding_size: number;
  max_storage_buffers_per_shader_stage: number;
  max_bind_groups: number;
  max_compute_invocations_per_workgroup: number;
  max_compute_workgroup_size_x: number;
  max_compute_workgroup_size_y: number;
  max_compute_workgroup_size_z: number;
  max_compute_workgroups_per_dimension: number;
  max_compute_workgroup_storage_size: number;
}

/** What the GPU adapter is and can do. */
export interface AdapterInfo {
  name: string;
  backend: string;
  device_type: string;
  vendor: number;
  device: number;
  driver: string;
  driver_info: string;
  shader_f16: boolean;
  subgroups: boolean;
  subgroup_min_size: number;
  subgroup_max_size: number;
  features: string[];
  limits: AdapterLimits;
  /** What the browser's GPUAdapterInfo says (vendor, architecture, ...), where it says it. */
  browser?: { vendor: string; architecture: string; device: string; description: string };
}

/** See {@link CreateEngineOptions.backend}. */
export type EngineBackend = 'webgpu' | 'cpu' | 'auto';

export interface CreateEngineOptions {
  /**
   * Where the engine runs. `true` (default): in a module Web Worker that
   * navaja starts, so the page never freezes. A `Worker`: one you started from
   * `navaja/worker` (for bundlers that want to own the worker). `false`: on
   * this thread.
   */
  worker?: boolean | Worker;
  /** Use `shader-f16` where the adapter has it (default true). */
  allowShaderF16?: boolean;
  /**
   * What runs the models. `'webgpu'` (default): the GPU, through WebGPU; the
   * engine rejects with `webgpu-unavailable` where the browser has none.
   * `'cpu'`: navaja's CPU backend (WebAssembly SIMD, one thread), for
   * language models and encoders alike. `'auto'`: WebGPU on a hardware adapter, the CPU
   * backend where the browser has no WebGPU or only a software adapter
   * (SwiftShader, WARP), on which WGSL runs several times slower than
   * code compiled for the CPU. `engine.adapter.backend` says which it got.
   */
  backend?: EngineBackend;
  /** Where to load navaja's .wasm from (default: next to this module). */
  wasmUrl?: string | URL;
}

/** Bytes a model can come from. A string or URL is fetched (and cached). */
export type ModelSource = string | URL | Blob | ArrayBuffer | ArrayBufferView | ReadableStream<Uint8Array>;

/** Where downloaded models are kept for the next visit. */
export type ModelCacheKind = 'cache-api' | 'opfs' | 'none';

/** Element type of the KV cache (see `LoadOptions.kv`). */
export type KvCacheType = 'f32' | 'f16' | 'q8' | 'q4';

export interface LoadProgress {
  /**
   * `download`: from the network; `cache`: from the model cache;
   * `read`: from a Blob, ArrayBuffer or stream; `init`: the file is in,
   * the model is being set up; `ready`: done.
   */
  phase: 'download' | 'cache' | 'read' | 'init' | 'ready';
  /** Bytes received so far. */
  loaded: number;
  /** Bytes of the whole file, when known. */
  total: number | null;
}

export interface LoadOptions {
  onProgress?: (progress: LoadProgress) => void;
  /**
   * How the KV cache stores keys and values: `f32`, `f16`, `q8` (8-bit, ~3.8x smaller than f32)
   * or `q4` (4-bit, ~6.4x smaller). The quantized types keep the most recent positions exact
   * and quantize older ones. Default: `q8`, which agrees with an f32 cache on 99.7% of next tokens
   * at the same perplexity (docs/KV_CACHE.md), or f16/f32 for a model whose rows q8 cannot store.
   * `model.kv` and `model.kv_bytes_per_token` say what is used.
   */
  kv?: KvCacheType;
  /** Tokens the KV cache holds (default: the model's context, at most 4096). Language models only, like `kv`. */
  contextLength?: number;
  /**
   * Expected SHA-256 of the file: `sha256-<base64>` (Subresource Integrity style) or 64 hex digits.
   * For a safetensors folder, of its model.safetensors.
   */
  integrity?: string;
  /** Where a downloaded model is stored (default `cache-api`). Only URL sources are cached (a folder's text files too). */
  cache?: ModelCacheKind;
  /** Stops the download and the load. */
  signal?: AbortSignal;
}

/** What every loaded model's info says. */
interface ModelInfoBase {
  architecture: string;
  /** The model's name from its file, else the file's (or folder's) name. */
  name: string | null;
  n_layers: number;
  hidden_size: number;
  vocab_size: number;
  weight_bytes: number;
  /** The engine's WebAssembly memory once the model is in (the weights are on the GPU, not here). */
  wasm_memory_bytes: number;
  /** Lowercase hex SHA-256 of the file (of model.safetensors for a safetensors folder). */
  sha256: string;
  /** Where the bytes came from. */
  loaded_from: 'network' | 'cache' | 'memory';
  /** Milliseconds from `load()` to ready. */
  load_ms: number;
}

/** A loaded language model (GGUF decoder): `engine.model`. */
export interface LanguageModelInfo extends ModelInfoBase {
  kind: 'llm';
  /** Tokens the session's KV cache holds. */
  context_length: number;
  /** The longest context the model was trained for. */
  model_context_length: number;
  kv_bytes_per_token: number;
  /** The KV cache type in use. */
  kv: KvCacheType;
  kv_requested: KvCacheType | null;
  has_chat_template: boolean;
}

/**
 * A loaded embedding model (a BERT-family encoder, from a GGUF file or a
 * sentence-transformers folder): `engine.embeddingModel`.
 */
export interface EmbeddingModelInfo extends ModelInfoBase {
  kind: 'embedding';
  format: 'gguf' | 'safetensors';
  /** Length of each embedding. */
  dim: number;
  pooling: 'mean' | 'cls' | 'last' | 'none';
  /** Embeddings have unit length (a sentence-transformers `Normalize` module): cosine is the dot product. */
  normalized: boolean;
  /** Longest input in tokens, [CLS] and [SEP] included; longer texts are truncated. */
  max_tokens: number;
  /** A cross-encoder: `rerank` scores (query, document) pairs with it; it does not embed. */
  reranker: boolean;
  /** Token rows one batch (one GPU submission, or one CPU forward pass) runs. */
  max_batch_tokens: number;
}

/** A loaded model, as the engine describes it; `kind` says which slot it went to. */
export type ModelInfo = LanguageModelInfo | EmbeddingModelInfo;

// ---- Chat completions (OpenAI-compatible) ---------------------------------

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  /** Text, or OpenAI's content parts (only `text` parts are supported). */
  content: string | Array<{ type: 'text'; text: string }>;
}

/** Sampling and stopping options shared by chat and text completions. */
export interface SamplingOptions {
  /** Most tokens to generate (default 512). */
  max_tokens?: number;
  /** 0 is greedy; default 0.8. */
  temperature?: number;
  /** Default 0.95. */
  top_p?: number;
  /** 0 turns it off; default 40. */
  top_k?: number;
  /** Default 0.05. */
  min_p?: number;
  /** OpenAI's range, -2..2; default 0. */
  presence_penalty?: number;
  frequency_penalty?: number;
  /** llama.cpp's repeat penalty; default 1 (off). */
  repeat_penalty?: number;
  /** Token id (as a string or number key) to a bias added to its logit; -100 or less bans it. */
  logit_bias?: Record<string, number>;
  /** The same seed gives the same tokens; default: a random one (returned in `navaja.seed`). */
  seed?: number;
  /** Generation stops before any of these strings. */
  stop?: string | string[];
  /** Stops the generation; the promise (or the stream) rejects with code `aborted`. */
  signal?: AbortSignal;
  /** OpenAI's `n`: only 1 is supported. */
  n?: number;
}

export interface ChatCompletionRequest extends SamplingOptions {
  messages: ChatMessage[];
  stream?: boolean;
  /** Ignored: the engine's loaded model answers. */
  model?: string;
}

/** navaja's additions to OpenAI's response objects. */
export interface NavajaDetails {
  /** Generated token ids (an end-of-generation token included when one ended it). */
  token_ids: number[];
  /** Prompt tokens whose keys and values were reused from the previous request. */
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

export type FinishReason = 'stop' | 'length';

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: 0;
    message: { role: 'assistant'; content: string };
    finish_reason: FinishReason;
    logprobs: null;
  }>;
  usage: CompletionUsage;
  navaja: NavajaDetails;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: 0;
    delta: { role?: 'assistant'; content?: string };
    finish_reason: FinishReason | null;
    logprobs: null;
  }>;
  /** On the last chunk only. */
  usage?: CompletionUsage;
  /** On the last chunk only. */
  navaja?: NavajaDetails;
}

// ---- Text completions (OpenAI's legacy completions) -----------------------

export interface CompletionRequest extends SamplingOptions {
  /** Raw text, continued as is (no chat template). */
  prompt: string;
  /** Add the model's BOS token when the model asks for one (default true). */
  add_special?: boolean;
  stream?: boolean;
  model?: string;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: Array<{ index: 0; text: string; finish_reason: FinishReason; logprobs: null }>;
  usage: CompletionUsage;
  navaja: NavajaDetails;
}

export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: Array<{ index: 0; text: string; finish_reason: FinishReason | null; logprobs: null }>;
  usage?: CompletionUsage;
  navaja?: NavajaDetails;
}

// ---- Embeddings and rerank --------------------------------------------------

export interface EmbeddingRequest {
  /** Texts longer than the model's `max_tokens` are truncated (`usage.prompt_tokens` counts what was embedded). */
  input: string | string[];
  model?: string;
  /** Only `float` is supported. */
  encoding_format?: 'float';
  signal?: AbortSignal;
}

export interface EmbeddingResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface RerankRequest {
  query: string;
  documents: string[];
  /** Return only the best `top_n` (default: all). */
  top_n?: number;
  signal?: AbortSignal;
}

export interface RerankResponse {
  object: 'list';
  /**
   * Best first. `relevance_score`: with a cross-encoder (`embeddingModel.reranker`), its score of
   * the (query, document) pair (a logit: higher is more relevant); with an embedding model, the
   * cosine similarity of the query's and the document's embeddings.
   */
  results: Array<{ index: number; relevance_score: number; document: string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}
