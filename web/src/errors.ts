/**
 * The one error type of navaja. `code` is stable: branch on it, show `message`.
 * Most codes mirror `NavajaError::code()` in crates/navaja-core/src/error.rs;
 * `network`, `integrity` and `disposed` come from this TypeScript layer.
 */
export type NavajaErrorCode =
  /** No WebGPU in this browser (or in a Worker of it), or no adapter. */
  | 'webgpu-unavailable'
  /** A call's arguments cannot work (the message names the field). */
  | 'invalid-argument'
  /** The model needs more than this GPU adapter allows (binding size, ...). */
  | 'adapter-limit'
  /** The browser or driver took the GPU away; create a new engine. */
  | 'device-lost'
  /** The GPU ran out of memory: try a smaller model or context length. */
  | 'out-of-memory'
  /** Another error the GPU reported. */
  | 'gpu'
  /** The model file is broken: truncated, not GGUF, inconsistent. */
  | 'model-format'
  /** A valid model file navaja cannot run (architecture, tensor type). */
  | 'unsupported-model'
  /** The prompt and the reply do not fit in the model's context. */
  | 'context-overflow'
  /** The caller's AbortSignal stopped the operation. */
  | 'aborted'
  /** The model could not be downloaded (HTTP error, offline, cut connection). */
  | 'network'
  /** The downloaded file's SHA-256 is not the `integrity` asked for. */
  | 'integrity'
  /** The engine was disposed. */
  | 'disposed';

const KNOWN_CODES: ReadonlySet<string> = new Set<NavajaErrorCode>([
  'webgpu-unavailable',
  'invalid-argument',
  'adapter-limit',
  'device-lost',
  'out-of-memory',
  'gpu',
  'model-format',
  'unsupported-model',
  'context-overflow',
  'aborted',
  'network',
  'integrity',
  'disposed',
]);

export class NavajaError extends Error {
  readonly code: NavajaErrorCode;

  constructor(code: NavajaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NavajaError';
    this.code = code;
  }
}

/** Turns whatever the wasm module (or a Worker) threw into a NavajaError. */
export function toNavajaError(error: unknown): NavajaError {
  if (error instanceof NavajaError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String((error as { message?: unknown })?.message ?? error);
  if (typeof code === 'string' && KNOWN_CODES.has(code)) {
    return new NavajaError(code as NavajaErrorCode, message, { cause: error });
  }
  if (error instanceof DOMException && error.name === 'AbortError') {
    return new NavajaError('aborted', message || 'the operation was aborted', { cause: error });
  }
  // A wasm trap or an unexpected JS exception: still typed, never silent.
  return new NavajaError('gpu', `navaja internal error: ${message}`, { cause: error });
}

/** A NavajaError as a structured-clonable object, for postMessage. */
export interface SerializedError {
  code: NavajaErrorCode;
  message: string;
}

export function serializeError(error: unknown): SerializedError {
  const e = toNavajaError(error);
  return { code: e.code, message: e.message };
}

export function deserializeError(e: SerializedError): NavajaError {
  return new NavajaError(KNOWN_CODES.has(e.code) ? e.code : 'gpu', e.message);
}

export function abortError(what = 'the request'): NavajaError {
  return new NavajaError('aborted', `${what} was aborted by its AbortSignal`);
}
