/**
 * A Hugging Face / sentence-transformers encoder folder at a URL (ending in
 * `/`, or the URL of its `.safetensors` file): its small text files are
 * fetched here (config.json and tokenizer.json, and where present
 * modules.json, the Pooling module's config and sentence_bert_config.json);
 * model.safetensors itself then streams in like any model file.
 *
 * The text files go into the model cache with the weights, so a cached
 * folder loads offline too; they are stored only once the model loaded.
 */
import { NavajaError, abortError } from './errors.js';
import { warn, type ModelStore } from './cache.js';

/** The text files as crates/navaja-web's `EncoderFiles` reads them. */
export interface EncoderFiles {
  config_json: string;
  tokenizer_json: string;
  modules_json?: string;
  pooling_json?: string;
  sentence_bert_config_json?: string;
}

export interface EncoderFolder {
  /** The folder's URL, ending in `/`. */
  url: string;
  weightsUrl: string;
  /** The folder's last path segment (the model's name). */
  name: string | null;
  files: EncoderFiles;
  /** Files that came from the network, to store once the model loaded. */
  fetched: Array<{ url: string; text: string }>;
  store: ModelStore | null;
}

/** The folder `url` names, or null when it names a single (GGUF) file. */
export async function encoderFolder(
  url: string,
  store: ModelStore | null,
  signal: AbortSignal | undefined,
): Promise<EncoderFolder | null> {
  const parsed = new URL(url);
  let base: URL;
  let weightsUrl: string;
  if (parsed.pathname.endsWith('/')) {
    base = parsed;
    weightsUrl = new URL('model.safetensors', base).href;
  } else if (parsed.pathname.endsWith('.safetensors')) {
    base = new URL('./', parsed);
    weightsUrl = parsed.href;
  } else {
    return null;
  }
  const fetched: EncoderFolder['fetched'] = [];
  const get = async (name: string, required: boolean): Promise<string | undefined> => {
    const fileUrl = new URL(name, base).href;
    const text = await fetchText(fileUrl, store, signal, required);
    if (text !== undefined && text.fromNetwork) fetched.push({ url: fileUrl, text: text.text });
    return text?.text;
  };
  // Fetched side by side; a failure is reported for the first file in this
  // order that failed, not for whichever response happened to come first.
  const settled = await Promise.allSettled([
    get('config.json', true),
    get('tokenizer.json', true),
    get('modules.json', false),
    get('sentence_bert_config.json', false),
  ]);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const [config, tokenizer, modules, sbert] = settled.map((r) => (r as PromiseFulfilledResult<string | undefined>).value);
  const poolingDir = poolingPath(modules) ?? '1_Pooling';
  if (poolingDir.split(/[\\/]/).includes('..')) {
    throw new NavajaError('model-format', `modules.json: the pooling path ${JSON.stringify(poolingDir)} leaves the model folder`);
  }
  const pooling = await get(`${poolingDir.replace(/\/+$/, '')}/config.json`, false);
  const segments = base.pathname.split('/').filter(Boolean);
  return {
    url: base.href,
    weightsUrl,
    name: segments.length ? decodeURIComponent(segments[segments.length - 1]) : null,
    files: {
      config_json: config as string,
      tokenizer_json: tokenizer as string,
      modules_json: modules,
      pooling_json: pooling,
      sentence_bert_config_json: sbert,
    },
    fetched,
    store,
  };
}

/** The Pooling module's folder from modules.json (the engine checks the file itself). */
function poolingPath(modules: string | undefined): string | undefined {
  if (modules === undefined) return undefined;
  try {
    const list: unknown = JSON.parse(modules);
    if (!Array.isArray(list)) return undefined;
    const pooling = list.find((m) => typeof m?.type === 'string' && m.type.split('.').pop() === 'Pooling');
    return typeof pooling?.path === 'string' && pooling.path ? pooling.path : undefined;
  } catch {
    return undefined; // the engine reports the broken JSON
  }
}

/**
 * A text file from the cache or the network. A missing optional file (404,
 * or a dev server's HTML fallback page) is `undefined`.
 */
async function fetchText(
  url: string,
  store: ModelStore | null,
  signal: AbortSignal | undefined,
  required: boolean,
): Promise<{ text: string; fromNetwork: boolean } | undefined> {
  const cached = store ? await store.get(url) : null;
  if (cached) return { text: await new Response(cached.stream).text(), fromNetwork: false };
  if (signal?.aborted) throw abortError('the model download');
  let response: Response;
  try {
    response = await fetch(url, { signal, credentials: 'same-origin' });
  } catch (error) {
    if (signal?.aborted) throw abortError('the model download');
    throw new NavajaError(
      'network',
      `could not download ${url}: ${error instanceof Error ? error.message : String(error)} ` +
        '(offline, a wrong host, or a server that does not allow this origin: CORS)',
      { cause: error },
    );
  }
  const html = (response.headers.get('Content-Type') ?? '').includes('text/html');
  if (!required && (response.status === 404 || (response.ok && html))) {
    await response.body?.cancel().catch(() => {});
    return undefined;
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    const name = url.slice(url.lastIndexOf('/') + 1);
    throw new NavajaError(
      'network',
      `downloading ${url} failed: HTTP ${response.status} ${response.statusText || ''}`.trim() +
        (response.status === 404 ? ` (a safetensors model folder needs ${name})` : ''),
    );
  }
  if (html) {
    await response.body?.cancel().catch(() => {});
    throw new NavajaError('model-format', `${url}: the server sent an HTML page, not the model's file: check the model URL`);
  }
  return { text: await response.text(), fromNetwork: true };
}

/** Stores the folder's text files fetched from the network (best effort, like the weights). */
export async function storeFolderFiles(folder: EncoderFolder): Promise<void> {
  const { store } = folder;
  if (!store) return;
  for (const { url, text } of folder.fetched) {
    const bytes = new TextEncoder().encode(text);
    try {
      const writer = await store.writer(url, bytes.byteLength);
      if (!writer) return;
      await writer.write(bytes);
      await writer.commit();
    } catch (error) {
      warn(`storing ${url} failed; it will not be cached`, error);
      return;
    }
  }
}
