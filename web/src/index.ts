/**
 * navaja: language and embedding models on the user's GPU, through WebGPU.
 *
 * This is the thin TypeScript layer over the wasm module built from
 * crates/navaja-web. Nothing here talks to the network except fetching the
 * package's own .wasm file.
 */
import initWasm, { WasmEngine } from './wasm/navaja_web.js';
import { NavajaError, toNavajaError } from './errors.js';

export { NavajaError } from './errors.js';
export type { NavajaErrorCode } from './errors.js';

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

export interface CreateEngineOptions {
  /** Use `shader-f16` where the adapter has it (default true). */
  allowShaderF16?: boolean;
  /** Where to load navaja's .wasm from (default: next to this module). */
  wasmUrl?: string | URL;
}

let wasmReady: Promise<unknown> | undefined;

function loadWasm(wasmUrl?: string | URL): Promise<unknown> {
  wasmReady ??= initWasm(wasmUrl ? { module_or_path: wasmUrl } : undefined).catch((error: unknown) => {
    wasmReady = undefined; // let a later call retry, e.g. after a network error
    throw new NavajaError('gpu', `could not load navaja's WebAssembly module: ${String(error)}`, { cause: error });
  });
  return wasmReady;
}

/** An engine owns one GPU device and what is loaded on it. */
export class Engine {
  #inner: WasmEngine | undefined;
  readonly adapter: AdapterInfo;

  /** @internal use createEngine() */
  constructor(inner: WasmEngine, browserInfo?: GPUAdapterInfo) {
    this.#inner = inner;
    this.adapter = inner.adapterInfo() as AdapterInfo;
    if (browserInfo) {
      const { vendor, architecture, device, description } = browserInfo;
      this.adapter.browser = { vendor, architecture, device, description };
      // wgpu's WebGPU backend leaves the name empty; browsers describe the adapter instead.
      this.adapter.name ||= description || [vendor, architecture].filter(Boolean).join(' ') || 'WebGPU adapter';
    }
  }

  /** Whether the device runs f16 arithmetic natively (`shader-f16`). */
  get shaderF16(): boolean {
    return this.#engine().shaderF16();
  }

  /**
   * Row-wise RMSNorm on the GPU: `x` holds rows of `weight.length` values;
   * `y = x / sqrt(mean(x^2) + eps) * weight`.
   */
  async rmsNorm(x: Float32Array, weight: Float32Array, eps = 1e-6): Promise<Float32Array> {
    if (!(x instanceof Float32Array) || !(weight instanceof Float32Array)) {
      throw new NavajaError('invalid-argument', 'rmsNorm: x and weight must be Float32Arrays');
    }
    try {
      return await this.#engine().rmsNorm(x, weight, eps);
    } catch (error) {
      throw toNavajaError(error);
    }
  }

  /** Releases the GPU device. The engine cannot be used afterwards. */
  dispose(): void {
    this.#inner?.free();
    this.#inner = undefined;
  }

  #engine(): WasmEngine {
    if (!this.#inner) throw new NavajaError('disposed', 'this navaja engine was disposed');
    return this.#inner;
  }
}

/**
 * Opens the browser's WebGPU adapter. Rejects with a NavajaError whose code is
 * `webgpu-unavailable` where the browser has no WebGPU (or no adapter).
 */
export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new NavajaError(
      'webgpu-unavailable',
      'WebGPU is not available in this browser. Use a recent Chrome, Edge or Safari, or Firefox with WebGPU enabled, ' +
        'and serve the page over https or from localhost.',
    );
  }
  // Asked here first so a browser with WebGPU but no adapter (blocklisted
  // GPU, disabled flag) gets the clearest message, and for the adapter's description.
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) {
    throw new NavajaError(
      'webgpu-unavailable',
      'This browser supports WebGPU but offers no GPU adapter (the GPU may be blocklisted or WebGPU disabled). ' +
        'Check chrome://gpu (or your browser\'s equivalent), update the GPU driver, or try another browser.',
    );
  }
  await loadWasm(options.wasmUrl);
  try {
    return new Engine(await WasmEngine.create(options.allowShaderF16 ?? true), adapter.info);
  } catch (error) {
    throw toNavajaError(error);
  }
}
