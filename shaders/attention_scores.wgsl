// Attention for CPU adapters (SwiftShader, lavapipe) when each kv head has
// a few query rows (decode), as two plain passes:
//   scores:   invocation (virtual key v, row, kv head) writes the scaled
//             score q.k of row's key v (MASKED past the keys the row
//             sees) to scores[q_row * stride + v];
//   weighted: invocation (row and 4 of its dims, kv head) takes the
//             softmax of its row's scores and sums those 4 dims of the
//             values with it, writing the output.
//
// Why not attention.wgsl or attention_lanes.wgsl: a CPU adapter runs a
// workgroup's invocations as SIMD lanes of one thread. The tile kernel pays
// there for its barriers and shared tiles, and the lanes kernel keeps q and
// its accumulator in private arrays of D/4 vec4s, which such a compiler
// keeps in memory and indexes lane by lane (SmolLM2 decode on SwiftShader:
// ~7 ms per layer at 130 keys, a third of the step). Here an invocation
// holds a few vec4s, and there are as many invocations as keys, so long
// contexts spread over every core without a combine pass.
//
// Each of a row's D/4 `weighted` invocations finds the row's max and sum
// itself: D/4 reads of a few thousand scores cost less than a third
// dispatch.
//
// The bindings are attention_cache.wgsl's, so that both passes use the
// same seven the host binds: `scores` writes its scores where attention
// writes `out`, and `weighted` reads them where attention reads `q` (its
// q_offset unused). p.split_len is the stride of the scores' rows, at least
// every row's key range (the host rounds it up so that the scratch buffer
// is reused from one decode step to the next).
//
// After kv_slots.wgsl and attention_cache.wgsl. Prepended: WG, D, SPLIT (0), KV.

const D4: u32 = (D + 3u) / 4u; // vec4 columns per head

// Dims d..d+3 of query row q_row, scaled, zero past D.
fn q_vec(q_row: u32, d: u32) -> vec4<f32> {
    let at = p.q_offset + q_row * D + d;
    var v = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        if (D % 4u == 0u || d + c < D) {
            v[c] = q[at + c];
        }
    }
    return v * p.scale;
}

@compute @workgroup_size(WG)
fn scores(@builtin(global_invocation_id) gid: vec3<u32>) {
    let v = gid.x;
    let row = gid.z;
    if (row >= p.n_rows || v >= p.split_len) {
        return;
    }
    let pos = p.start_pos + row / p.group;
    let range = key_range(pos, pos, 0u);
    let q_row = query_row(row, gid.y);
    var s = MASKED;
    if (v < range.end) {
        let key = key_pos(v, range.lo, range.n_sink);
        let kv_col = gid.y * D;
        var sum = vec4<f32>(0.0);
        for (var i = 0u; i < D4; i++) {
            sum += q_vec(q_row, 4u * i) * k_vec(key, kv_col, 4u * i);
        }
        s = sum.x + sum.y + sum.z + sum.w;
    }
    out[q_row * p.split_len + v] = s;
}

@compute @workgroup_size(WG)
fn weighted(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x / D4;
    let c = gid.x % D4;
    if (row >= p.n_rows) {
        return;
    }
    let pos = p.start_pos + row / p.group;
    let range = key_range(pos, pos, 0u);
    let q_row = query_row(row, gid.y);
    let at = q_row * p.split_len; // this row's scores, in the binding named q

    var m = MASKED;
    for (var v = 0u; v < range.end; v++) {
        m = max(m, q[at + v]);
    }
    let kv_col = gid.y * D;
    var l = 0.0;
    var acc = vec4<f32>(0.0);
    for (var v = 0u; v < range.end; v++) {
        let e = exp(q[at + v] - m);
        l += e;
        acc += e * v_vec(key_pos(v, range.lo, range.n_sink), kv_col, 4u * c);
    }
    // A row that sees no key gets zeros, as in the other kernels.
    let o = acc * select(0.0, 1.0 / l, l > 0.0);
    let out_at = p.out_offset + q_row * D + 4u * c;
    for (var j = 0u; j < 4u; j++) {
        if (D % 4u == 0u || 4u * c + j < D) {
            out[out_at + j] = o[j];
        }
    }
}
