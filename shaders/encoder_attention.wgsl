// Bidirectional attention over packed sequences (an encoder's self-attention):
// out = softmax(scale q k^T - slope |i - j|) v, each query seeing exactly the
// keys of its own sequence (packing is the padding mask), with an online
// softmax so the score matrix is never stored.
//
// Work item = (tile of WG query rows of one sequence, head): tiles[t] =
// (first row of the sequence, its length, first query of the tile, 0),
// item = tile * n_heads + head. Each invocation owns one query row: q
// (pre-scaled) and its accumulator stay in registers. Per tile of BC keys the
// workgroup stages K in workgroup memory, every invocation scores its row
// against it, then V replaces K and every invocation rescales and
// accumulates. Rows past the sequence's end only help load tiles.
//
// ALiBi (JinaBERT): with p.alibi = 1 the score of query i and key j of head h
// gets -slopes[h] * |i - j| (positions within the sequence).
//
// Prepended: WG (query rows per workgroup), D (head_dim, a multiple of 4),
// BC (keys per tile). q, k, v and out are rows of n_heads * D values, read as vec4.

struct Params {
    n_heads: u32,
    width4: u32,   // vec4 per row: n_heads * D / 4
    n_items: u32,  // tiles * n_heads
    alibi: u32,
    scale: f32,
    max_len: u32,  // the longest sequence: a uniform bound for every tile's key loop
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> tiles: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read> slopes: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

const D4: u32 = D / 4u;
const MASKED: f32 = -1.0e30;

var<workgroup> kv_sh: array<vec4<f32>, BC * D4>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Uniform across the workgroup, as is the key loop's bound (p.max_len,
    // not this tile's length), so every barrier below is in uniform control flow.
    let item = group.x + group.y * groups.x;
    if (item >= p.n_items) {
        return;
    }
    let tile = tiles[item / p.n_heads];
    let head = item % p.n_heads;
    let first = tile.x;
    let len = tile.y;
    let i = tile.z + lid; // this invocation's query, within the sequence
    let in_seq = i < len;
    let col = head * D4;

    var qv: array<vec4<f32>, D4>;
    var acc: array<vec4<f32>, D4>;
    if (in_seq) {
        let at = (first + i) * p.width4 + col;
        for (var c = 0u; c < D4; c++) {
            qv[c] = q[at + c] * p.scale;
        }
    }
    var slope = 0.0;
    if (p.alibi != 0u) {
        slope = slopes[head];
    }
    var m = MASKED;
    var l = 0.0;
    var s: array<f32, BC>;

    for (var k0 = 0u; k0 < p.max_len; k0 += BC) {
        let n = min(BC, max(len, k0) - k0); // 0 once this sequence's keys are done
        workgroupBarrier(); // the previous tile's V is consumed
        for (var e = lid; e < n * D4; e += WG) {
            kv_sh[e] = k[(first + k0 + e / D4) * p.width4 + col + e % D4];
        }
        workgroupBarrier();
        var m_new = m;
        if (in_seq) {
            for (var j = 0u; j < n; j++) {
                var score = 0.0;
                for (var c = 0u; c < D4; c++) {
                    score += dot(qv[c], kv_sh[j * D4 + c]);
                }
                let key = k0 + j;
                score -= slope * f32(max(i, key) - min(i, key));
                s[j] = score;
                m_new = max(m_new, score);
            }
        }
        workgroupBarrier(); // K is consumed
        for (var e = lid; e < n * D4; e += WG) {
            kv_sh[e] = v[(first + k0 + e / D4) * p.width4 + col + e % D4];
        }
        workgroupBarrier();
        if (in_seq) {
            let alpha = exp(m - m_new);
            l *= alpha;
            for (var c = 0u; c < D4; c++) {
                acc[c] *= alpha;
            }
            for (var j = 0u; j < n; j++) {
                let pj = exp(s[j] - m_new);
                l += pj;
                for (var c = 0u; c < D4; c++) {
                    acc[c] += pj * kv_sh[j * D4 + c];
                }
            }
            m = m_new;
        }
    }

    if (in_seq) {
        let at = (first + i) * p.width4 + col;
        let inv = 1.0 / l;
        for (var c = 0u; c < D4; c++) {
            out[at + c] = acc[c] * inv;
        }
    }
}
