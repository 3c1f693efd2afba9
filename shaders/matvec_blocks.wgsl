// y = W x (+ bias) (+ y) for one token on CPU adapters, for weight types of
// 32-value blocks: each invocation owns 4 consecutive rows and walks their
// blocks in order; x's 32 values of a block are loaded once for the 4 rows.
//
// Why not matvec.wgsl: CPU adapters (SwiftShader, lavapipe) run invocations
// as SIMD lanes and keep private arrays in memory, so that kernel's
// per-thread arrays of rows and its generic unit decoder cost more than the
// arithmetic. Here every value lives in a named local and the type file
// gives one straight-line block dot product. SwiftShader ran it 2.5-3x
// faster than matvec.wgsl on SmolLM2's 1536 x 576 Q4_1 matrices, with the
// same sums up to rounding order.
//
// Before this file: block_dot_common.wgsl (the weight binding, Xb), a
// block_dot_<type>.wgsl defining BLOCK_WORDS and
//   fn block_dot(at: u32, x: Xb) -> f32   (the block at word `at` . x)
// and matvec_io.wgsl (params, x / y / bias bindings, store).
// Prepended constant: WG (invocations per workgroup). The host uses this
// kernel only when cols is a multiple of 32 and x_offset of 4.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row0 = (gid.x + gid.y * groups.x * WG) * 4u;
    if (row0 >= p.rows) {
        return;
    }
    // Rows past the end read the last row (never out of bounds) and are not stored.
    let last = p.rows - 1u;
    let w0 = row0 * p.row_words;
    let w1 = min(row0 + 1u, last) * p.row_words;
    let w2 = min(row0 + 2u, last) * p.row_words;
    let w3 = min(row0 + 3u, last) * p.row_words;
    var acc = vec4<f32>(0.0);
    for (var b = 0u; b < p.items; b++) {
        let xi = p.x_offset4 + 8u * b;
        var xb: Xb;
        xb.v0 = x[xi];
        xb.v1 = x[xi + 1u];
        xb.v2 = x[xi + 2u];
        xb.v3 = x[xi + 3u];
        xb.v4 = x[xi + 4u];
        xb.v5 = x[xi + 5u];
        xb.v6 = x[xi + 6u];
        xb.v7 = x[xi + 7u];
        xb.sum = dot(xb.v0 + xb.v1 + xb.v2 + xb.v3 + xb.v4 + xb.v5 + xb.v6 + xb.v7, vec4<f32>(1.0));
        let at = b * BLOCK_WORDS;
        acc += vec4<f32>(block_dot(w0 + at, xb), block_dot(w1 + at, xb), block_dot(w2 + at, xb), block_dot(w3 + at, xb));
    }
    store(row0, acc.x);
    store(row0 + 1u, acc.y);
    store(row0 + 2u, acc.z);
    store(row0 + 3u, acc.w);
}
