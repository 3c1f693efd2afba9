// Flash attention: softmax(q k^T * scale) v over a KV cache, one pass over
// the keys with an online softmax, never materialising the score matrix.
//
// A workgroup owns BR query rows that share one kv head (row r of kv head g
// is token r / group, query head g * group + r % group, so grouped-query
// heads reuse every K/V tile they load) and one split of the keys this tile
// can see. Per tile of BC keys:
//   1. K tile -> workgroup memory (coalesced rows of the cache)
//   2. scores s[r][j] = q_r . k_j (q pre-scaled, NS invocations per score
//      when BR * BC < WG), masked to MASKED where the key is not visible
//   3. per row: new running max m, rescale factor alpha = e^(m_old - m)
//   4. p[r][j] = e^(s - m); V tile -> workgroup memory (overwrites K)
//   5. each invocation rescales and accumulates its dims of its row:
//      acc = acc * alpha + sum_j p_j v_j, l = l * alpha + sum_j p_j
// SPLIT = 0 writes acc / l to `out`; SPLIT = 1 writes (acc, m, l) of this
// split to the scratch bound as `out`, for attention_combine.wgsl (decode
// has few rows, so the keys are split across workgroups instead).
//
// Tiles live in workgroup memory as vec4 (head dims padded to a multiple
// of 4 with zeros), so both inner loops read 4 values per access. In step 5
// the invocations of a row split the tile's keys into JP parts when there
// are more invocations than vec4 columns; the parts are summed once, after
// the last tile.
//
// The cache holds words of any KV type (KV: 0 f32, 1 f16, 2 q8, 3 q4; the
// layouts of crates/navaja-core/src/quant/kv.rs). Tiles are dequantized as
// they are loaded into workgroup memory, 4 values per read: the quantized
// cache is never copied out in another form. The quantized types read
// positions from q_end on, and the first 32 (never quantized), from their
// f16 ring (k_res, v_res: slot ring_slot(pos, res_len)), the others from the main store.

// Keys are addressed by position; a position's row is in slot(pos), which
// is the position itself, or in a ring cache (ring_len > 0) the first `sink`
// positions in place and the rest cycling through ring_len slots. A row
// then sees the keys of its window plus the sink (attention-sink sliding
// window). The keys a tile sees are walked as one virtual range: the sink
// positions below the window first, then the window.
//
// Prepended: WG, D (head_dim), BR, BC, NS, JP, SPLIT, RED (size of the
// score reduction array: WG when NS > 1, else 1), KV.

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

const D4: u32 = (D + 3u) / 4u;           // vec4 columns per head
const KS4: u32 = D4 + 1u;                // padded tile row stride: no bank conflicts
const TPR: u32 = WG / BR;                // invocations per row in the accumulation
const CW: u32 = TPR / JP;                // of which own the columns of one key part
const ND4: u32 = (D4 + CW - 1u) / CW;    // vec4 columns per invocation
const MASKED: f32 = -1.0e30;             // score of an invisible key (finite: no inf arithmetic)

var<workgroup> q_sh: array<vec4<f32>, BR * D4>;
var<workgroup> kv_sh: array<vec4<f32>, BC * KS4>;
var<workgroup> s_sh: array<f32, BR * BC>;
var<workgroup> red_sh: array<f32, RED>;
var<workgroup> m_sh: array<f32, BR>;
var<workgroup> alpha_sh: array<f32, BR>;

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

// The score of tile row `row` against the key at `key` (virtual index `v`),
// or MASKED when the row may not see it.
fn visible_score(row: u32, v: u32, key: u32, end: u32, dot: f32) -> f32 {
    let pos = p.start_pos + row / p.group;
    var ok = row < p.n_rows && v < end;
    if (p.causal != 0u) {
        ok = ok && key <= pos;
    }
    if (p.window != 0u) {
        ok = ok && (key + p.window > pos || key < p.sink);
    }
    return select(MASKED, dot, ok);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = wg.x * BR;
    let kv_col = wg.y * D;
    let split = wg.z;

    // Keys some row of this tile sees: [lo, hi); then this split's share.
    let first_pos = p.start_pos + row0 / p.group;
    let last_pos = p.start_pos + (min(row0 + BR, p.n_rows) - 1u) / p.group;
    var lo = 0u;
    if (p.window != 0u && first_pos + 1u > p.window) {
        lo = first_pos + 1u - p.window;
    }
    var hi = p.kv_len;
    if (p.causal != 0u) {
        hi = last_pos + 1u;
    }
    // Sink keys below the window come first in the virtual range.
    var n_sink = 0u;
    if (p.window != 0u) {
        n_sink = min(p.sink, lo);
    }
    let begin = split * p.split_len;
    let end = min(n_sink + hi - lo, begin + p.split_len);

    for (var e = lid; e < BR * D4; e += WG) {
        let row = row0 + e / D4;
        var v = vec4<f32>(0.0);
        if (row < p.n_rows) {
            let head = wg.y * p.group + row % p.group;
            let at = p.q_offset + ((row / p.group) * p.n_heads + head) * D;
            let d = 4u * (e % D4);
            for (var i = 0u; i < 4u; i++) {
                if (D % 4u == 0u || d + i < D) {
                    v[i] = q[at + d + i] * p.scale;
                }
            }
        }
        q_sh[e] = v;
    }
    if (lid < BR) {
        m_sh[lid] = MASKED;
    }

    // This invocation accumulates row r_own, vec4 columns col0 + i * CW, keys j = part (mod JP).
    let r_own = lid / TPR;
    let part = (lid % TPR) / CW;
    let col0 = (lid % TPR) % CW;
    var acc: array<vec4<f32>, ND4>;
    var l = 0.0;

    for (var k0 = begin; k0 < end; k0 += BC) {
        workgroupBarrier(); // q_sh ready; the previous tile's readers are done
        for (var e = lid; e < BC * D4; e += WG) {
            let vk = k0 + e / D4;
            var v = vec4<f32>(0.0);
            if (vk < end) {
                v = k_vec(key_pos(vk, lo, n_sink), kv_col, 4u * (e % D4));
            }
            kv_sh[(e / D4) * KS4 + e % D4] = v;
        }
        workgroupBarrier();

        for (var e = lid; e < BR * BC * NS; e += WG) {
            let sc = e / NS;
            let r = sc / BC;
            let j = sc % BC;
            var dot_part = 0.0;
            for (var d4 = e % NS; d4 < D4; d4 += NS) {
                dot_part += dot(q_sh[r * D4 + d4], kv_sh[j * KS4 + d4]);
            }
            if (NS == 1u) {
                s_sh[sc] = visible_score(row0 + r, k0 + j, key_pos(k0 + j, lo, n_sink), end, dot_part);
            } else {
                red_sh[e] = dot_part;
            }
        }
        if (NS > 1u) {
            workgroupBarrier();
            for (var sc = lid; sc < BR * BC; sc += WG) {
                var total = 0.0;
                for (var i = 0u; i < NS; i++) {
                    total += red_sh[sc * NS + i];
                }
                let vk = k0 + sc % BC;
                s_sh[sc] = visible_score(row0 + sc / BC, vk, key_pos(vk, lo, n_sink), end, total);
            }
        }
        workgroupBarrier();

        if (lid < BR) {
            let m_old = m_sh[lid];
            var m_new = m_old;
            for (var j = 0u; j < BC; j++) {
                m_new = max(m_new, s_sh[lid * BC + j]);
            }
            alpha_sh[lid] = exp(m_old - m_new);
            m_sh[lid] = m_new;
        }
        workgroupBarrier();

        for (var e = lid; e < BR * BC; e += WG) {
            let s = s_sh[e];
            s_sh[e] = select(exp(s - m_sh[e / BC]), 0.0, s <= MASKED);
        }
        for (var e = lid; e < BC * D4; e += WG) {
            let vk = k0 + e / D4;
            var v = vec4<f32>(0.0);
            if (vk < end) {
                v = v_vec(key_pos(vk, lo, n_sink), kv_col, 4u * (e % D4));
            }
            kv_sh[(e / D4) * KS4 + e % D4] = v;
        }
        workgroupBarrier();

        let alpha = alpha_sh[r_own];
        l *= alpha;
        for (var i = 0u; i < ND4; i++) {
            acc[i] *= alpha;
        }
        if (part < JP) {
            for (var j = part; j < BC; j += JP) {
                let pj = s_sh[r_own * BC + j];
                l += pj;
                for (var i = 0u; i < ND4; i++) {
                    let col = col0 + i * CW;
                    if (col < D4) {
                        acc[i] += pj * kv_sh[j * KS4 + col];
                    }
                }
            }
        }
    }
    workgroupBarrier(); // the last V tile is read; m_sh visible even when this split had no keys

    if (JP > 1u) {
        // Sum the key parts through the (now free) tile memory: row r_own * JP + part holds
        // a part's columns and, in column D4, its sum l. The host keeps BR * JP <= BC.
        if (part < JP) {
            let base = (r_own * JP + part) * KS4;
            for (var i = 0u; i < ND4; i++) {
                let col = col0 + i * CW;
                if (col < D4) {
                    kv_sh[base + col] = acc[i];
                }
            }
            if (col0 == 0u) {
                kv_sh[base + D4] = vec4<f32>(l, 0.0, 0.0, 0.0);
            }
        }
        workgroupBarrier();
        if (part == 0u) {
            l = 0.0;
            for (var i = 0u; i < ND4; i++) {
                acc[i] = vec4<f32>(0.0);
            }
            for (var other = 0u; other < JP; other++) {
                let base = (r_own * JP + other) * KS4;
                l += kv_sh[base + D4].x;
                for (var i = 0u; i < ND4; i++) {
                    let col = col0 + i * CW;
                    if (col < D4) {
                        acc[i] += kv_sh[base + col];
                    }
                }
            }
        }
    }

    let row = row0 + r_own;
    if (row >= p.n_rows || part != 0u) {
        return;
    }
    let q_row = (row / p.group) * p.n_heads + wg.y * p.group + row % p.group;
    var scale = 1.0;
    var at = p.out_offset + q_row * D;
    if (SPLIT == 0u) {
        scale = select(0.0, 1.0 / l, l > 0.0);
    } else {
        at = (q_row * p.n_splits + split) * (D + 2u);
        if (col0 == 0u) {
            out[at + D] = m_sh[r_own];
            out[at + D + 1u] = l;
        }
    }
    for (var i = 0u; i < ND4; i++) {
        let col = col0 + i * CW;
        if (col < D4) {
            let v = acc[i] * scale;
            for (var c = 0u; c < 4u; c++) {
                if (D % 4u == 0u || 4u * col + c < D) {
                    out[at + 4u * col + c] = v[c];
                }
            }
        }
    }
}
