/**
 * Where downloaded model files are kept for the next visit: the Cache API
 * (default) or the Origin Private File System. An entry appears only once
 * its file arrived completely and loaded: a download cut halfway, a file
 * that failed to load or a failed integrity check leave nothing behind.
 *
 * Storage is best effort: a full quota, private browsing or a missing API
 * turns caching off for that load with a console warning, never an error.
 */
import type { ModelCacheKind } from './types.js';

/** A cached file. */
export interface CachedModel {
  stream: ReadableStream<Uint8Array>;
  size: number | null;
}

/** A file being stored while it downloads. */
export interface CacheWriter {
  /** Resolves when the chunk is accepted (backpressure); rejects when storing failed. */
  write(chunk: Uint8Array): Promise<void>;
  /** Makes the entry visible. */
  commit(): Promise<void>;
  /** Forgets what was written. */
  abort(): Promise<void>;
}

export interface ModelStore {
  readonly kind: Exclude<ModelCacheKind, 'none'>;
  get(url: string): Promise<CachedModel | null>;
  /** `null` when this browser cannot store here. */
  writer(url: string, size: number | null): Promise<CacheWriter | null>;
  delete(url: string): Promise<void>;
}

export function warn(message: string, error?: unknown): void {
  const why = error instanceof Error ? `${error.name}: ${error.message}` : error === undefined ? '' : String(error);
  console.warn(`navaja: ${message}${why ? ` (${why})` : ''}`);
}

export function openStore(kind: ModelCacheKind): ModelStore | null {
  if (kind === 'none') return null;
  if (kind === 'opfs') {
    if (typeof navigator === 'undefined' || !navigator.storage?.getDirectory) {
      warn('the Origin Private File System is not available here; the model will not be cached');
      return null;
    }
    return new OpfsStore();
  }
  if (typeof caches === 'undefined') {
    warn('the Cache API is not available here (an insecure origin?); the model will not be cached');
    return null;
  }
  return new CacheApiStore();
}

const CACHE_NAME = 'navaja-models-v1';

class CacheApiStore implements ModelStore {
  readonly kind = 'cache-api' as const;

  async get(url: string): Promise<CachedModel | null> {
    try {
      const cache = await caches.open(CACHE_NAME);
      const response = await cache.match(url);
      if (!response?.body) return null;
      const size = Number(response.headers.get('Content-Length'));
      return { stream: response.body, size: Number.isFinite(size) && size > 0 ? size : null };
    } catch (error) {
      warn('could not read the model cache', error);
      return null;
    }
  }

  async writer(url: string, size: number | null): Promise<CacheWriter | null> {
    let cache: Cache;
    try {
      cache = await caches.open(CACHE_NAME);
    } catch (error) {
      warn('could not open the model cache; the model will not be cached', error);
      return null;
    }
    // The cache reads the body as we write it, at its own pace: writes wait
    // for it (backpressure), so nothing piles up in memory.
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
    if (size !== null) headers['Content-Length'] = String(size);
    const put = cache.put(url, new Response(pipe.readable, { headers }));
    put.catch(() => {}); // reported through write() / commit()
    const writer = pipe.writable.getWriter();
    return {
      async write(chunk) {
        await writer.ready;
        void writer.write(chunk).catch(() => {});
      },
      async commit() {
        await writer.close();
        await put;
      },
      async abort() {
        await writer.abort(new DOMException('not cached', 'AbortError')).catch(() => {});
        await put.catch(() => {});
        // A put whose body errored stores nothing; make sure of it.
        await cache.delete(url).catch(() => {});
      },
    };
  }

  async delete(url: string): Promise<void> {
    try {
      await (await caches.open(CACHE_NAME)).delete(url);
    } catch (error) {
      warn('could not remove a model from the cache', error);
    }
  }
}

const OPFS_DIR = 'navaja-models';

/** An OPFS file name for `url`: its SHA-256 in hex. */
async function fileName(url: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(url));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('') + '.bin';
}

class OpfsStore implements ModelStore {
  readonly kind = 'opfs' as const;

  #dir(): Promise<FileSystemDirectoryHandle> {
    return navigator.storage.getDirectory().then((root) => root.getDirectoryHandle(OPFS_DIR, { create: true }));
  }

  async get(url: string): Promise<CachedModel | null> {
    try {
      const handle = await (await this.#dir()).getFileHandle(await fileName(url));
      const file = await handle.getFile();
      // An empty file is one whose first write never completed.
      return file.size > 0 ? { stream: file.stream(), size: file.size } : null;
    } catch {
      return null; // NotFoundError: not cached
    }
  }

  async writer(url: string): Promise<CacheWriter | null> {
    try {
      const dir = await this.#dir();
      const name = await fileName(url);
      const handle = await dir.getFileHandle(name, { create: true });
      if (!('createWritable' in handle)) {
        warn('this browser cannot write OPFS files from here; the model will not be cached');
        return null;
      }
      // Writes go to a swap file; close() replaces the entry atomically.
      const writable = await handle.createWritable();
      return {
        write: (chunk) => writable.write(chunk as Uint8Array<ArrayBuffer>),
        commit: () => writable.close(),
        async abort() {
          await writable.abort().catch(() => {});
          await dir.removeEntry(name).catch(() => {});
        },
      };
    } catch (error) {
      warn('could not create the model file in OPFS; the model will not be cached', error);
      return null;
    }
  }

  async delete(url: string): Promise<void> {
    try {
      await (await this.#dir()).removeEntry(await fileName(url));
    } catch {
      // not there: nothing to delete
    }
  }
}
