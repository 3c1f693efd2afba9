// The adapter's read bandwidth in this browser: how fast plain WGSL kernels
// stream a large storage buffer. Several kernels are tried (the one navaja
// ships in shaders/read_bandwidth.wgsl at a few workgroup sizes, and one
// without workgroup memory or barriers, which CPU adapters such as SwiftShader
// run without switching fibres); the best is the ceiling a memory-bound
// decode can be held against.

const VARIANTS = [
  { name: 'navaja read_bandwidth.wgsl, WG 256', source: 'navaja', wg: 256 },
  { name: 'navaja read_bandwidth.wgsl, WG 64', source: 'navaja', wg: 64 },
  { name: 'per-thread slices, no barrier, WG 64', source: 'slices', wg: 64 },
  { name: 'per-thread slices, no barrier, WG 16', source: 'slices', wg: 16 },
];

// Each thread reads its own contiguous run of vec4<u32>, 4 loads in flight,
// and writes its own sum: no workgroup memory, no barrier.
const SLICES_WGSL = `
struct Params { len: u32, per_thread: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let t = gid.x + gid.y * groups.x * WG;
  let start = t * p.per_thread;
  let end = min(start + p.per_thread, p.len);
  var a = vec4<u32>(0u);
  var b = vec4<u32>(0u);
  var i = start;
  for (; i + 3u < end; i += 4u) {
    a += src[i] + src[i + 1u];
    b += src[i + 2u] + src[i + 3u];
  }
  for (; i < end; i++) { a += src[i]; }
  a += b;
  out[t] = a.x + a.y + a.z + a.w;
}`;

export async function readBandwidth({ mib = 256, repeats = 5, dispatches = 4 } = {}) {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: Math.min(adapter.limits.maxStorageBufferBindingSize, mib << 20),
      maxBufferSize: Math.min(adapter.limits.maxBufferSize, mib << 20),
    },
  });
  const bytes = mib << 20;
  const len = bytes / 16;
  const src = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  // Non-zero contents, written in 16 MiB pieces.
  const piece = new Uint32Array(4 << 20).map((_, i) => i * 2654435761);
  for (let off = 0; off < bytes; off += piece.byteLength) device.queue.writeBuffer(src, off, piece);
  const navajaWgsl = await (await fetch('/shaders/read_bandwidth.wgsl')).text();
  const results = [];
  for (const v of VARIANTS) {
    const wgsl = `const WG: u32 = ${v.wg}u;\n` + (v.source === 'navaja' ? navajaWgsl : SLICES_WGSL);
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: wgsl }), entryPoint: 'main' } });
    // navaja's kernel: one slice per workgroup of 64 loads per thread; slices: 256 vec4 per thread.
    let groups;
    let perUnit;
    if (v.source === 'navaja') {
      perUnit = 64 * v.wg;
      groups = Math.ceil(len / perUnit);
    } else {
      perUnit = 256;
      groups = Math.ceil(len / perUnit / v.wg);
    }
    const outs = v.source === 'navaja' ? groups : groups * v.wg;
    const out = device.createBuffer({ size: outs * 4, usage: GPUBufferUsage.STORAGE });
    const params = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(params, 0, new Uint32Array([len, perUnit, 0, 0]));
    const bind = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: out } }, { binding: 2, resource: { buffer: params } }],
    });
    const gx = Math.min(groups, 65535);
    const gy = Math.ceil(groups / gx);
    if (v.source === 'slices' && gy > 1) throw new Error('bandwidth probe: too many workgroups for the slices kernel');
    const run = async (n) => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      for (let i = 0; i < n; i++) pass.dispatchWorkgroups(gx, gy);
      pass.end();
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t0) / 1000;
    };
    await run(1); // compile and warm up
    const times = [];
    for (let r = 0; r < repeats; r++) times.push(await run(dispatches));
    times.sort((a, b) => a - b);
    const seconds = times[Math.floor(times.length / 2)];
    results.push({ kernel: v.name, gb_per_s: (bytes * dispatches) / seconds / 1e9, seconds, bytes: bytes * dispatches });
    out.destroy();
    params.destroy();
  }
  src.destroy();
  device.destroy();
  const best = results.reduce((a, b) => (b.gb_per_s > a.gb_per_s ? b : a));
  const info = adapter.info ?? {};
  return {
    adapter: { vendor: info.vendor, architecture: info.architecture, description: info.description, shader_f16: adapter.features.has('shader-f16') },
    kernels: results,
    best_gb_per_s: best.gb_per_s,
    best_kernel: best.kernel,
  };
}
