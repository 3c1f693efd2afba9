// The KV cache as both attention kernels read it (attention.wgsl, tiles in
// workgroup memory for GPUs; attention_lanes.wgsl, one query row per
// invocation for CPU adapters): the params, the bindings, and the values of
// a key or value row at a position for every cache type and layout.
//
// The cache holds words of any KV type (KV: 0 f32, 1 f16, 2 q8, 3 q4; the
// layouts of crates/navaja-core/src/quant/kv.rs), dequantized 4 values per
// read: the quantized cache is never copied out in another form. The
// quantized types read positions from q_end on, and the first 32 (never
// quantized), from their f16 ring (k_res, v_res: slot ring_slot(pos,
// res_len)), the others from the main store.
//
// Keys are addressed by position; a position's row is in slot(pos), which
// is the position itself, or in a ring cache (ring_len > 0) the first `sink`
// positions in place and the rest cycling through ring_len slots. A row
// then sees the keys of its window plus the sink (attention-sink sliding
// window). The keys a row sees are walked as one virtual range: the sink
// positions below the window first, then the window (key_pos).
//
// After kv_slots.wgsl. Prepended: D (head_dim), KV, SPLIT.

struct Params {
    n_rows: u32,    // n_tokens * group: query rows per kv head
    n_heads: u32,
    group: u32,     // query heads per kv head
    row_words: u32, // u32 words per cache row (n_kv_heads * D values)
    q_offset: u32,
    out_offset: u32,
    start_pos: u32,
    kv_len: u32,
    causal: u32,
    window: u32,
    n_splits: u32,
    split_len: u32, // keys per split, a multiple of BC
    scale: f32,
    n_blocks: u32, // 32-value blocks per cache row (q8, q4)
    sink: u32,     // positions always kept and always visible
    ring_len: u32, // 0: slot = position; else slots after the sink form a ring
    q_end: u32,    // quantized types: positions below this are in the main store
    res_len: u32,  // quantized types: slots of the recent-positions ring
    res_words: u32, // words per ring row
    width: u32,    // values per cache row
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k_cache: array<u32>;
@group(0) @binding(2) var<storage, read> v_cache: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> k_res: array<u32>;
@group(0) @binding(6) var<storage, read> v_res: array<u32>;

const MASKED: f32 = -1.0e30; // score of an invisible key (finite: no inf arithmetic)

fn slot(pos: u32) -> u32 {
    return cache_slot(pos, p.sink, p.ring_len);
}

// Word i of the main store from K (which = 0) or V.
fn main_word(which: u32, at: u32) -> u32 {
    if (which == 0u) {
        return k_cache[at];
    }
    return v_cache[at];
}

// Word i of the cache row of `pos` in the main store.
fn cache_word(which: u32, pos: u32, i: u32) -> u32 {
    return main_word(which, slot(pos) * p.row_words + i);
}

// Word i of the ring row of `pos`.
fn ring_word(which: u32, pos: u32, i: u32) -> u32 {
    let at = ring_slot(pos, p.res_len) * p.res_words + i;
    if (which == 0u) {
        return k_res[at];
    }
    return v_res[at];
}

// The signed bytes of a word, as numbers.
fn bytes_i8(w: u32) -> vec4<f32> {
    let b = bitcast<vec4<i32>>(vec4<u32>(w << 24u, w << 16u, w << 8u, w));
    return vec4<f32>(b >> vec4<u32>(24u));
}

// Values i..i+3 of the row of `pos` (i a multiple of 4 unless KV is f32), zero past `lim`.
fn cache_vec(which: u32, pos: u32, i: u32, lim: u32) -> vec4<f32> {
    if (KV >= 2u && (pos >= p.q_end || pos < KV_EXACT_START)) {
        let w = i / 2u;
        return vec4<f32>(unpack2x16float(ring_word(which, pos, w)), unpack2x16float(ring_word(which, pos, w + 1u)));
    }
    if (KV == 1u) {
        let w = i / 2u;
        return vec4<f32>(unpack2x16float(cache_word(which, pos, w)), unpack2x16float(cache_word(which, pos, w + 1u)));
    }
    if (KV == 2u) {
        let b = i / 32u;
        let d = unpack2x16float(cache_word(which, pos, 8u * p.n_blocks + b / 2u))[b % 2u];
        return d * bytes_i8(cache_word(which, pos, i / 4u));
    }
    if (KV == 3u && which == 0u) {
        // Keys per channel over groups of 32 positions: channels i..i+3 of position pos.
        let s = slot(pos);
        let base = (s / 32u) * 32u * p.row_words;
        let t = s % 32u;
        let at = base + (t / 8u) * p.width + i;
        let shift = 4u * (t % 8u);
        let q = (vec4<u32>(main_word(0u, at), main_word(0u, at + 1u), main_word(0u, at + 2u), main_word(0u, at + 3u))
            >> vec4<u32>(shift)) & vec4<u32>(0xfu);
        let sc = base + 4u * p.width + i;
        let d0 = unpack2x16float(main_word(0u, sc));
        let d1 = unpack2x16float(main_word(0u, sc + 1u));
        let d2 = unpack2x16float(main_word(0u, sc + 2u));
        let d3 = unpack2x16float(main_word(0u, sc + 3u));
        return vec4<f32>(d0.x, d1.x, d2.x, d3.x) * vec4<f32>(q) + vec4<f32>(d0.y, d1.y, d2.y, d3.y);
    }
    if (KV == 3u) {
        let b = i / 32u;
        let dm = unpack2x16float(cache_word(which, pos, 4u * p.n_blocks + b));
        let nibbles = cache_word(which, pos, i / 8u) >> (4u * (i % 8u));
        let q = (vec4<u32>(nibbles) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(0xfu);
        return dm.x * vec4<f32>(q) + dm.y;
    }
    var v = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        if (D % 4u == 0u || i + c < lim) {
            v[c] = bitcast<f32>(cache_word(which, pos, i + c));
        }
    }
    return v;
}

// Dims d..d+3 of the key (value) at `pos` of the kv head whose row columns start at `col`.
fn k_vec(pos: u32, col: u32, d: u32) -> vec4<f32> {
    return cache_vec(0u, pos, col + d, col + D);
}

fn v_vec(pos: u32, col: u32, d: u32) -> vec4<f32> {
    return cache_vec(1u, pos, col + d, col + D);
}

// The position of virtual key v of a tile: the sink keys below the window, then the window.
fn key_pos(v: u32, lo: u32, n_sink: u32) -> u32 {
    return select(lo + v - n_sink, v, v < n_sink);
}

// The keys that query rows at positions first_pos..=last_pos see, as the
// virtual range key_pos walks (the sink keys below the window, then keys
// lo..), and split `split`'s share of it: [begin, end), empty when end <= begin.
struct KeyRange {
    lo: u32,
    n_sink: u32,
    begin: u32,
    end: u32,
}

fn key_range(first_pos: u32, last_pos: u32, split: u32) -> KeyRange {
    var lo = 0u;
    if (p.window != 0u && first_pos + 1u > p.window) {
        lo = first_pos + 1u - p.window;
    }
    var hi = p.kv_len;
    if (p.causal != 0u) {
        hi = last_pos + 1u;
    }
    var n_sink = 0u;
    if (p.window != 0u) {
        n_sink = min(p.sink, lo);
    }
    let begin = split * p.split_len;
    return KeyRange(lo, n_sink, begin, min(n_sink + hi - lo, begin + p.split_len));
}

// The query row (token * n_heads + head) of row `row` of kv head
// `kv_head`: row r is token r / group, query head kv_head * group + r % group.
fn query_row(row: u32, kv_head: u32) -> u32 {
    return (row / p.group) * p.n_heads + kv_head * p.group + row % p.group;
}

// Where query row q_row's D outputs start in `out`: the output itself
// (SPLIT = 0), or this split's partial (acc, then m and l) in the scratch
// that attention_combine.wgsl merges.
fn out_base(q_row: u32, split: u32) -> u32 {
    if (SPLIT == 0u) {
        return p.out_offset + q_row * D;
    }
    return (q_row * p.n_splits + split) * (D + 2u);
}
