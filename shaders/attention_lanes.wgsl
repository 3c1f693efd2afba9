// Attention for CPU adapters (lavapipe, SwiftShader): softmax(q k^T *
// scale) v over the KV cache with one query row per invocation, walking
// that row's keys itself with an online softmax in registers. No workgroup
// memory, no barriers.
//
// Why not attention.wgsl: a CPU adapter runs a workgroup's invocations as
// SIMD lanes on one thread and switches between them at every barrier, and
// its workgroup memory is ordinary memory. The tile kernel's five barriers
// per tile of keys and its shared tiles cost more there than the
// arithmetic; here the only memory traffic is the cache rows themselves
// (which the CPU's caches share between the lanes that read them).
//
// Invocation i of kv head y owns query row i / n_splits (row r is token
// r / group, query head y * group + r % group, as in attention.wgsl) and
// key split i % n_splits of the keys that row sees: neighbouring lanes are
// the splits of one row in decode and neighbouring rows (the same keys) in
// prefill. Keys go 4 at a time: 4 scores, one rescale of the accumulator.
// SPLIT = 0 writes acc / l to `out`; SPLIT = 1 writes (acc, m, l) of the
// split for attention_combine.wgsl, in attention.wgsl's layout.
//
// After kv_slots.wgsl and attention_cache.wgsl. Prepended: WG, D, SPLIT, KV.

const D4: u32 = (D + 3u) / 4u; // vec4 columns per head

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x / p.n_splits;
    let split = gid.x % p.n_splits;
    if (row >= p.n_rows) {
        return;
    }
    let kv_col = gid.y * D;

    // The keys this row sees, and this split's share.
    let pos = p.start_pos + row / p.group;
    let range = key_range(pos, pos, split);
    let lo = range.lo;
    let n_sink = range.n_sink;
    let begin = range.begin;
    let end = range.end;

    let q_row = query_row(row, gid.y);
    let q_at = p.q_offset + q_row * D;
    var qv: array<vec4<f32>, D4>;
    for (var i = 0u; i < D4; i++) {
        var v = vec4<f32>(0.0);
        for (var c = 0u; c < 4u; c++) {
            if (D % 4u == 0u || 4u * i + c < D) {
                v[c] = q[q_at + 4u * i + c] * p.scale;
            }
        }
        qv[i] = v;
    }

    var acc: array<vec4<f32>, D4>;
    var m = MASKED;
    var l = 0.0;
    for (var k0 = begin; k0 < end; k0 += 4u) {
        // Keys past the split's end read its last key and score MASKED.
        let last = end - 1u;
        let keys = vec4<u32>(
            key_pos(k0, lo, n_sink),
            key_pos(min(k0 + 1u, last), lo, n_sink),
            key_pos(min(k0 + 2u, last), lo, n_sink),
            key_pos(min(k0 + 3u, last), lo, n_sink),
        );
        // One call site of k_vec and of v_vec: each inlines the cache
        // decoder, and SwiftShader took ~25 s to compile 8 unrolled copies.
        var s = vec4<f32>(0.0);
        for (var j = 0u; j < 4u; j++) {
            var dot_j = 0.0;
            for (var i = 0u; i < D4; i++) {
                dot_j += dot(qv[i], k_vec(keys[j], kv_col, 4u * i));
            }
            s[j] = dot_j;
        }
        let valid = vec4<u32>(k0) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(end);
        s = select(vec4<f32>(MASKED), s, valid);
        let m_new = max(m, max(max(s.x, s.y), max(s.z, s.w)));
        let alpha = exp(m - m_new);
        let pk = select(vec4<f32>(0.0), exp(s - vec4<f32>(m_new)), valid);
        l = l * alpha + (pk.x + pk.y + pk.z + pk.w);
        for (var i = 0u; i < D4; i++) {
            acc[i] *= alpha;
        }
        for (var j = 0u; j < 4u; j++) {
            for (var i = 0u; i < D4; i++) {
                acc[i] += pk[j] * v_vec(keys[j], kv_col, 4u * i);
            }
        }
        m = m_new;
    }

    var scale = 1.0;
    let at = out_base(q_row, split);
    if (SPLIT == 0u) {
        scale = select(0.0, 1.0 / l, l > 0.0);
    } else {
        out[at + D] = m;
        out[at + D + 1u] = l;
    }
    for (var i = 0u; i < D4; i++) {
        let v = acc[i] * scale;
        for (var c = 0u; c < 4u; c++) {
            if (D % 4u == 0u || 4u * i + c < D) {
                out[at + 4u * i + c] = v[c];
            }
        }
    }
}
