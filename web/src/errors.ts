/**
 * The one error type of navaja. `code` is stable: branch on it, show `message`.
 * The codes mirror `NavajaError::code()` in crates/navaja-core/src/error.rs.
 */
export type NavajaErrorCode =
  | 'webgpu-unavailable'
  | 'invalid-argument'
  | 'adapter-limit'
  | 'device-lost'
  | 'out-of-memory'
  | 'gpu'
  | 'disposed';

const KNOWN_CODES: ReadonlySet<string> = new Set<NavajaErrorCode>([
  'webgpu-unavailable',
  'invalid-argument',
  'adapter-limit',
  'device-lost',
  'out-of-memory',
  'gpu',
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

/** Turns whatever the wasm module threw into a NavajaError. */
export function toNavajaError(error: unknown): NavajaError {
  if (error instanceof NavajaError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && KNOWN_CODES.has(code)) {
    return new NavajaError(code as NavajaErrorCode, message, { cause: error });
  }
  // A wasm trap or an unexpected JS exception: still typed, never silent.
  return new NavajaError('gpu', `navaja internal error: ${message}`, { cause: error });
}
