/**
 * The module Worker navaja runs in by default (see createEngine). It holds
 * the LocalBackend and answers the page's messages (protocol.ts). Messages
 * are handled as they come, so an `abort` reaches a running generation.
 *
 * Bundlers: `new Worker(new URL('navaja/worker', import.meta.url), { type: 'module' })`
 * and pass it as `createEngine({ worker })`.
 */
import { LocalBackend } from './backend-local.js';
import { serializeError } from './errors.js';
import type { Backend, FromWorker, ToWorker } from './protocol.js';

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<ToWorker>) => void): void;
}
const scope = globalThis as unknown as WorkerScope;

let backend: Backend | undefined;
const running = new Map<number, AbortController>();

function post(message: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

async function call(id: number, method: string, args: unknown[]): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  const signal = controller.signal;
  try {
    if (!backend) throw new Error('the navaja worker was not initialised');
    const b = backend;
    let value: unknown;
    switch (method) {
      case 'load': {
        const [source, options] = args as Parameters<Backend['load']>;
        value = await b.load(source, options, (progress) => post({ type: 'progress', id, progress }), signal);
        break;
      }
      case 'generate': {
        const [request] = args as Parameters<Backend['generate']>;
        value = await b.generate(request, (text) => post({ type: 'text', id, text }), signal);
        break;
      }
      case 'tokenize':
        value = await b.tokenize(...(args as [string, boolean]));
        break;
      case 'detokenize':
        value = await b.detokenize(...(args as [number[]]));
        break;
      case 'embed': {
        const r = await b.embed(args[0] as string[], signal);
        post({ type: 'result', id, value: r }, [r.embeddings.buffer]);
        return;
      }
      case 'rerank': {
        const r = await b.rerank(args[0] as string, args[1] as string[], signal);
        post({ type: 'result', id, value: r }, [r.scores.buffer]);
        return;
      }
      case 'unload':
        value = await b.unload(...(args as ['llm' | 'embedding' | 'all']));
        break;
      case 'rmsNorm': {
        const y = await b.rmsNorm(...(args as [Float32Array, Float32Array, number]));
        post({ type: 'result', id, value: y }, [y.buffer]);
        return;
      }
      case 'loseDeviceForTesting':
        value = await b.loseDeviceForTesting();
        break;
      case 'dispose':
        value = await b.dispose();
        backend = undefined;
        break;
      default:
        throw new Error(`unknown method ${method}`);
    }
    post({ type: 'result', id, value });
  } catch (error) {
    post({ type: 'error', id, error: serializeError(error) });
  } finally {
    running.delete(id);
  }
}

scope.addEventListener('message', (event) => {
  const message = event.data;
  switch (message.type) {
    case 'init':
      LocalBackend.create(message.options).then(
        (b) => {
          backend = b;
          post({ type: 'ready', adapter: b.adapter, shaderF16: b.shaderF16 });
        },
        (error: unknown) => post({ type: 'init-error', error: serializeError(error) }),
      );
      break;
    case 'call':
      void call(message.id, message.method, message.args);
      break;
    case 'abort':
      running.get(message.id)?.abort();
      break;
  }
});
