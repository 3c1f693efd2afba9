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
// The cache and how a row's keys are addressed: attention_cache.wgsl.
//
// Prepended: WG, D (head_dim), BR, BC, NS, JP, SPLIT, RED (size of the
// score reduction array: WG when NS > 1, else 1), KV.

const D4: u32 = (D + 3u) / 4u;           // vec4 columns per head
const KS4: u32 = D4 + 1u;                // padded tile row stride: no bank conflicts
const TPR: u32 = WG / BR;                // invocations per row in the accumulation
const CW: u32 = TPR / JP;                // of which own the columns of one key part
const ND4: u32 = (D4 + CW - 1u) / CW;    // vec4 columns per invocation

var<workgroup> q_sh: array<vec4<f32>, BR * D4>;
var<workgroup> kv_sh: array<vec4<f32>, BC * KS4>;
var<workgroup> s_sh: array<f32, BR * BC>;
var<workgroup> red_sh: array<f32, RED>;
var<workgroup> m_sh: array<f32, BR>;
var<workgroup> alpha_sh: array<f32, BR>;

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

    // Keys some row of this tile sees, and this split's share.
    let first_pos = p.start_pos + row0 / p.group;
    let last_pos = p.start_pos + (min(row0 + BR, p.n_rows) - 1u) / p.group;
    let range = key_range(first_pos, last_pos, split);
    let lo = range.lo;
    let n_sink = range.n_sink;
    let begin = range.begin;
    let end = range.end;

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
    let q_row = query_row(row, wg.y);
    var scale = 1.0;
    let at = out_base(q_row, split);
    if (SPLIT == 0u) {
        scale = select(0.0, 1.0 / l, l > 0.0);
    } else {
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
