// Writes a batch's keys and values (f32 rows of `width` values, from the
// projections) into the KV cache, converting them to the cache's element
// type on the way: quantization happens here, once per value, and the
// attention kernel reads the stored words directly. Layouts: see
// crates/navaja-core/src/quant/kv.rs, which is the CPU reference.
//
// Row t of the batch is position start_pos + t; it goes to slot
// slot(position): the position itself, or, in a ring (ring_len > 0), the
// first `sink` positions in place and the rest cycling through the ring.
//
// One invocation per unit of a row, the smallest piece that owns whole
// words: 1 value (f32), 2 values (f16), 2 blocks of 32 (q8: their two f16
// scales share a word), 1 block (q4). Prepended: WG, KV (0 f32, 1 f16, 2 q8, 3 q4).

struct Params {
    n_rows: u32,
    width: u32,     // values per row
    row_words: u32, // u32 words per cache row
    n_blocks: u32,  // width / 32 (quantized types)
    units: u32,     // units per row
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
    if (p.ring_len == 0u || pos < p.sink) {
        return pos;
    }
    return p.sink + (pos - p.sink) % p.ring_len;
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

// f16 bits of x, and x as those bits read back: scales are rounded before use.
fn f16_bits(x: f32) -> u32 {
    return pack2x16float(vec2<f32>(x, 0.0)) & 0xffffu;
}

fn f16_round(x: f32) -> f32 {
    return unpack2x16float(f16_bits(x)).x;
}

// Codes of q8 block `b` of the row starting at src index `s`; returns the f16 scale bits.
fn write_q8_block(which: u32, s: u32, base: u32, b: u32) -> u32 {
    var amax = 0.0;
    for (var j = 0u; j < 32u; j++) {
        amax = max(amax, abs(src(which, s + 32u * b + j)));
    }
    let d = f16_round(amax / 127.0);
    let id = select(0.0, 1.0 / d, d > 0.0);
    for (var w = 0u; w < 8u; w++) {
        var word = 0u;
        for (var c = 0u; c < 4u; c++) {
            let q = i32(clamp(round(src(which, s + 32u * b + 4u * w + c) * id), -127.0, 127.0));
            word |= (bitcast<u32>(q) & 0xffu) << (8u * c);
        }
        put(which, base + 8u * b + w, word);
    }
    return f16_bits(d);
}

fn write_q4_block(which: u32, s: u32, base: u32, b: u32) {
    var lo = src(which, s + 32u * b);
    var hi = lo;
    for (var j = 1u; j < 32u; j++) {
        let x = src(which, s + 32u * b + j);
        lo = min(lo, x);
        hi = max(hi, x);
    }
    let m = f16_round(lo);
    let d = f16_round((hi - lo) / 15.0);
    let id = select(0.0, 1.0 / d, d > 0.0);
    for (var w = 0u; w < 4u; w++) {
        var word = 0u;
        for (var c = 0u; c < 8u; c++) {
            let q = u32(clamp(round((src(which, s + 32u * b + 8u * w + c) - m) * id), 0.0, 15.0));
            word |= q << (4u * c);
        }
        put(which, base + 4u * b + w, word);
    }
    put(which, base + 4u * p.n_blocks + b, f16_bits(d) | (f16_bits(m) << 16u));
}

fn write_unit(which: u32, row: u32, unit: u32) {
    let s = row * p.width;
    let base = slot(p.start_pos + row) * p.row_words;
    if (KV == 0u) {
        put(which, base + unit, bitcast<u32>(src(which, s + unit)));
    } else if (KV == 1u) {
        put(which, base + unit, pack2x16float(vec2<f32>(src(which, s + 2u * unit), src(which, s + 2u * unit + 1u))));
    } else if (KV == 2u) {
        let b = 2u * unit;
        var scales = write_q8_block(which, s, base, b);
        if (b + 1u < p.n_blocks) {
            scales |= write_q8_block(which, s, base, b + 1u) << 16u;
        }
        put(which, base + 8u * p.n_blocks + unit, scales);
    } else {
        write_q4_block(which, s, base, unit);
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
