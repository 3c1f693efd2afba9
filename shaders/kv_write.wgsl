// Writes a batch's keys and values (f32 rows of `width` values, from the
// projections) into an f32 or f16 store: the whole cache of the f32 and f16
// types, or the recent-positions ring of the quantized types, which
// kv_quantize.wgsl quantizes from later. Layouts: see
// crates/navaja-core/src/quant/kv.rs, which is the CPU reference.
//
// Row t of the batch is position start_pos + t; it goes to slot
// slot(position): the position itself, or, in a ring (ring_len > 0), the
// first `sink` positions in place and the rest cycling through the ring.
//
// One invocation per word of a row: 1 value (f32) or 2 values (f16).
// Prepended: WG, KV (0 f32, 1 f16).

struct Params {
    n_rows: u32,
    width: u32,     // values per row
    row_words: u32, // u32 words per cache row
    n_blocks: u32,  // unused here (the params mirror kv_quantize's)
    units: u32,     // words per row
    start_pos: u32,
    sink: u32,
    ring_len: u32,
}

@group(0) @binding(0) var<storage, read> src_k: array<f32>;
@group(0) @binding(1) var<storage, read> src_v: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst_k: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst_v: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

fn slot(pos: u32) -> u32 {
    return cache_slot(pos, p.sink, p.ring_len);
}

fn src(which: u32, i: u32) -> f32 {
    if (which == 0u) {
        return src_k[i];
    }
    return src_v[i];
}

fn put(which: u32, i: u32, w: u32) {
    if (which == 0u) {
        dst_k[i] = w;
    } else {
        dst_v[i] = w;
    }
}

fn write_unit(which: u32, row: u32, unit: u32) {
    let s = row * p.width;
    let base = slot(p.start_pos + row) * p.row_words;
    if (KV == 0u) {
        put(which, base + unit, bitcast<u32>(src(which, s + unit)));
    } else {
        // The last value of an odd row pairs with a 0.
        let hi = select(0.0, src(which, s + 2u * unit + 1u), 2u * unit + 1u < p.width);
        put(which, base + unit, pack2x16float(vec2<f32>(src(which, s + 2u * unit), hi)));
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if (i >= p.n_rows * p.units) {
        return;
    }
    let row = i / p.units;
    let unit = i % p.units;
    write_unit(0u, row, unit);
    write_unit(1u, row, unit);
}
