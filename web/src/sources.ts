/**
 * Turning a model source into one stream of bytes: a URL from the model
 * cache or the network (stored as it downloads), a Blob, an ArrayBuffer or
 * a caller's ReadableStream. Nothing is read whole: the loader pulls chunks.
 */
import { NavajaError, abortError } from './errors.js';
import type { CacheWriter, ModelStore } from './cache.js';
import { warn } from './cache.js';
import type { BackendSource } from './protocol.js';
import type { LoadProgress, ModelInfo } from './types.js';

export interface OpenedSource {
  stream: ReadableStream<Uint8Array>;
  total: number | null;
  phase: LoadProgress['phase'];
  from: ModelInfo['loaded_from'];
  /** Set when a download is being stored in the model cache. */
  cacheWriter: CacheWriter | null;
  /** The server sent an HTML page (a wrong URL behind a dev server's fallback?). */
  html: boolean;
}

/** Slices of an ArrayBuffer, without copying it. */
function bufferStream(buffer: ArrayBuffer, offset: number, length: number): ReadableStream<Uint8Array> {
  const CHUNK = 4 << 20;
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= length) {
        controller.close();
        return;
      }
      const n = Math.min(CHUNK, length - at);
      controller.enqueue(new Uint8Array(buffer, offset + at, n));
      at += n;
    },
  });
}

/**
 * Opens `source`. A URL comes from `store` when it holds it (unless
 * `readCache` is false) and is otherwise downloaded, and stored in `store`
 * on the way.
 */
export async function openSource(
  source: BackendSource,
  store: ModelStore | null,
  signal: AbortSignal | undefined,
  { readCache = true } = {},
): Promise<OpenedSource> {
  const memory = { cacheWriter: null, html: false, from: 'memory' as const, phase: 'read' as const };
  switch (source.kind) {
    case 'blob':
      return { ...memory, stream: source.blob.stream(), total: source.blob.size };
    case 'buffer':
      return { ...memory, stream: bufferStream(source.buffer, source.offset, source.length), total: source.length };
    case 'stream':
      return { ...memory, stream: source.stream, total: null };
    case 'url':
      return openUrl(source.url, store, readCache, signal);
  }
}

async function openUrl(
  url: string,
  store: ModelStore | null,
  readCache: boolean,
  signal: AbortSignal | undefined,
): Promise<OpenedSource> {
  const cached = store && readCache ? await store.get(url) : null;
  if (cached) {
    return { stream: cached.stream, total: cached.size, phase: 'cache', from: 'cache', cacheWriter: null, html: false };
  }
  if (signal?.aborted) throw abortError('the model download');
  let response: Response;
  try {
    response = await fetch(url, { signal, credentials: 'same-origin' });
  } catch (error) {
    if (signal?.aborted) throw abortError('the model download');
    throw new NavajaError(
      'network',
      `could not download the model from ${url}: ${error instanceof Error ? error.message : String(error)} ` +
        '(offline, a wrong host, or a server that does not allow this origin: CORS)',
      { cause: error },
    );
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => {});
    throw new NavajaError(
      'network',
      `downloading the model from ${url} failed: HTTP ${response.status} ${response.statusText || ''}`.trim() +
        (response.status === 404 ? ' (no file at that URL)' : ''),
    );
  }
  // With a Content-Encoding the length is the compressed size: not the file's.
  const length = response.headers.get('Content-Encoding') ? null : Number(response.headers.get('Content-Length'));
  const total = length !== null && Number.isFinite(length) && length > 0 ? length : null;
  let cacheWriter: CacheWriter | null = null;
  if (store) {
    cacheWriter = await store.writer(url, total).catch((error: unknown) => {
      warn('could not start caching the model', error);
      return null;
    });
  }
  const html = (response.headers.get('Content-Type') ?? '').includes('text/html');
  return { stream: response.body, total, phase: 'download', from: 'network', cacheWriter, html };
}
