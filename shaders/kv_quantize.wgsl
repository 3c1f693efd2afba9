// Quantizes whole groups of 32 positions of the quantized KV types from
// their recent-positions ring (f16 rows written by kv_write.wgsl) into the
// main store that attention reads for older positions. Layouts: see
// crates/navaja-core/src/quant/kv.rs, the CPU reference.
//
// Group g holds positions first_pos + 32 g ..; its rows go to slots
// slot(pos) of the main store (32 consecutive slots: the host keeps sink and
// ring_len multiples of 32), and come from ring slot pos % res_len.
//
// An invocation does one unit of the keys and one of the values of a group:
//   q8 (KV 2): row t, blocks 2u and 2u+1 (their f16 scales share a word) for keys and values;
//   q4 (KV 3): keys per channel c (32 codes over the positions, then one
//              (scale, min) word); values per row t and block b (32 codes over
//              the channels). Both have `width` units per group.
// Prepended: WG, KV.

struct Params {
    width: u32,     // values per row
    row_words: u32, // words per position in the main store
    n_blocks: u32,  // width / 32
    units: u32,     // units per group
    first_pos: u32, // position of the first group's first row
    n_groups: u32,
    res_len: u32,   // slots of the ring
    res_words: u32, // words per ring row (width / 2)
    sink: u32,
    ring_len: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> res_k: array<u32>;
@group(0) @binding(1) var<storage, read> res_v: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst_k: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst_v: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

fn slot(pos: u32) -> u32 {
    return cache_slot(pos, p.sink, p.ring_len);
}

// Value c of position pos, from the ring of K (which = 0) or V.
fn ring_value(which: u32, pos: u32, c: u32) -> f32 {
    let at = ring_slot(pos, p.res_len) * p.res_words + c / 2u;
    var w: u32;
    if (which == 0u) {
        w = res_k[at];
    } else {
        w = res_v[at];
    }
    return unpack2x16float(w)[c % 2u];
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

// q8 block b of the row of `pos` (32 values along the channels) into the row at `base`;
// returns the f16 bits of its scale.
fn q8_block(which: u32, pos: u32, base: u32, b: u32) -> u32 {
    var x: array<f32, 32>;
    var amax = 0.0;
    for (var j = 0u; j < 32u; j++) {
        x[j] = ring_value(which, pos, 32u * b + j);
        amax = max(amax, abs(x[j]));
    }
    let d = f16_round(amax / 127.0);
    let id = select(0.0, 1.0 / d, d > 0.0);
    for (var w = 0u; w < 8u; w++) {
        var word = 0u;
        for (var c = 0u; c < 4u; c++) {
            let q = i32(clamp(round(x[4u * w + c] * id), -127.0, 127.0));
            word |= (bitcast<u32>(q) & 0xffu) << (8u * c);
        }
        put(which, base + 8u * b + w, word);
    }
    return f16_bits(d);
}

// 32 values, asymmetric 4-bit: returns the (scale, min) word and leaves the codes in `codes`.
var<private> codes: array<u32, 32>;

fn q4_codes(x: ptr<function, array<f32, 32>>) -> u32 {
    var lo = (*x)[0];
    var hi = lo;
    for (var j = 1u; j < 32u; j++) {
        lo = min(lo, (*x)[j]);
        hi = max(hi, (*x)[j]);
    }
    let m = f16_round(lo);
    let d = f16_round((hi - lo) / 15.0);
    let id = select(0.0, 1.0 / d, d > 0.0);
    for (var j = 0u; j < 32u; j++) {
        codes[j] = u32(clamp(round(((*x)[j] - m) * id), 0.0, 15.0));
    }
    return f16_bits(d) | (f16_bits(m) << 16u);
}

// Codes j*8 .. j*8+7 in one word.
fn code_word(j: u32) -> u32 {
    var word = 0u;
    for (var c = 0u; c < 8u; c++) {
        word |= codes[8u * j + c] << (4u * c);
    }
    return word;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if (i >= p.n_groups * p.units) {
        return;
    }
    let group = i / p.units;
    let unit = i % p.units;
    let pos0 = p.first_pos + 32u * group;
    if (KV == 2u) {
        let t = unit / ((p.n_blocks + 1u) / 2u);
        let pair = unit % ((p.n_blocks + 1u) / 2u);
        let pos = pos0 + t;
        let base = slot(pos) * p.row_words;
        for (var which = 0u; which < 2u; which++) {
            let b = 2u * pair;
            var scales = q8_block(which, pos, base, b);
            if (b + 1u < p.n_blocks) {
                scales |= q8_block(which, pos, base, b + 1u) << 16u;
            }
            put(which, base + 8u * p.n_blocks + pair, scales);
        }
    } else {
        var x: array<f32, 32>;
        // Keys: channel `unit` over the group's 32 positions.
        let c = unit;
        for (var t = 0u; t < 32u; t++) {
            x[t] = ring_value(0u, pos0 + t, c);
        }
        let group_base = slot(pos0) * p.row_words;
        let dm = q4_codes(&x);
        for (var j = 0u; j < 4u; j++) {
            put(0u, group_base + j * p.width + c, code_word(j));
        }
        put(0u, group_base + 4u * p.width + c, dm);
        // Values: row t, block b along the channels.
        let t = unit / p.n_blocks;
        let b = unit % p.n_blocks;
        for (var j = 0u; j < 32u; j++) {
            x[j] = ring_value(1u, pos0 + t, 32u * b + j);
        }
        let base = slot(pos0 + t) * p.row_words;
        let vdm = q4_codes(&x);
        for (var j = 0u; j < 4u; j++) {
            put(1u, base + 4u * b + j, code_word(j));
        }
        put(1u, base + 4u * p.n_blocks + b, vdm);
    }
}
