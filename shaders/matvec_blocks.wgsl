// y = W x (+ bias) (+ y) for one token on CPU adapters, for weight types of
// 32-value blocks: each invocation owns 8 consecutive rows and walks their
// blocks in order, a pair of x runs at a time (see block_dot_common.wgsl),
// each pair loaded once for the 8 rows.
//
// Why this shape: CPU adapters (SwiftShader, lavapipe) run invocations as
// SIMD lanes, emulate each storage load with a loop over the lanes whether
// or not the lanes' addresses agree, and keep private arrays in memory. So
// x loads cost as much as weight loads, and the rows live in named locals
// (rows in a private array ran 1.55x slower on lavapipe, 1.75x on SwiftShader). Loading x a pair of runs
// at a time, for 8 rows, keeps few values live. Measured on SmolLM2's
// 1536 x 576 Q4_1 matrices: SwiftShader 1450 -> 610 us, lavapipe 330 ->
// 255 us, against 4 rows with a whole block of x loaded per step.
//
// Before this file: block_dot_common.wgsl (the weight binding), a
// block_dot_<type>.wgsl defining BLOCK_WORDS and
//   fn pair_x_b(xb) -> vec4<f32>            (run b's x as pair_dot wants it)
//   fn pair_dot(at, k, xa, xb) -> f32       (pair k of the block at word `at`)
//   fn block_total(at, s, x_sum) -> f32     (the block's dot product)
// and matvec_io.wgsl (params, x / y / bias bindings, store).
// Prepended constant: WG (invocations per workgroup). The host uses this
// kernel only when cols is a multiple of 32 and x_offset of 4.

const ROWS: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row0 = (gid.x + gid.y * groups.x * WG) * ROWS;
    if (row0 >= p.rows) {
        return;
    }
    // Rows past the end read the last row (never out of bounds) and are not stored.
    let last = p.rows - 1u;
    let w0 = row0 * p.row_words;
    let w1 = min(row0 + 1u, last) * p.row_words;
    let w2 = min(row0 + 2u, last) * p.row_words;
    let w3 = min(row0 + 3u, last) * p.row_words;
    let w4 = min(row0 + 4u, last) * p.row_words;
    let w5 = min(row0 + 5u, last) * p.row_words;
    let w6 = min(row0 + 6u, last) * p.row_words;
    let w7 = min(row0 + 7u, last) * p.row_words;
    var acc0 = 0.0;
    var acc1 = 0.0;
    var acc2 = 0.0;
    var acc3 = 0.0;
    var acc4 = 0.0;
    var acc5 = 0.0;
    var acc6 = 0.0;
    var acc7 = 0.0;
    for (var b = 0u; b < p.items; b++) {
        let xi = p.x_offset4 + 8u * b;
        let at = b * BLOCK_WORDS;
        var s0 = 0.0;
        var s1 = 0.0;
        var s2 = 0.0;
        var s3 = 0.0;
        var s4 = 0.0;
        var s5 = 0.0;
        var s6 = 0.0;
        var s7 = 0.0;
        var x_runs = vec4<f32>(0.0);
        for (var k = 0u; k < 4u; k++) {
            let xa = x[xi + k];
            let xb_raw = x[xi + 4u + k];
            x_runs += xa + xb_raw;
            let xb = pair_x_b(xb_raw);
            s0 += pair_dot(w0 + at, k, xa, xb);
            s1 += pair_dot(w1 + at, k, xa, xb);
            s2 += pair_dot(w2 + at, k, xa, xb);
            s3 += pair_dot(w3 + at, k, xa, xb);
            s4 += pair_dot(w4 + at, k, xa, xb);
            s5 += pair_dot(w5 + at, k, xa, xb);
            s6 += pair_dot(w6 + at, k, xa, xb);
            s7 += pair_dot(w7 + at, k, xa, xb);
        }
        let x_sum = dot(x_runs, vec4<f32>(1.0));
        acc0 += block_total(w0 + at, s0, x_sum);
        acc1 += block_total(w1 + at, s1, x_sum);
        acc2 += block_total(w2 + at, s2, x_sum);
        acc3 += block_total(w3 + at, s3, x_sum);
        acc4 += block_total(w4 + at, s4, x_sum);
        acc5 += block_total(w5 + at, s5, x_sum);
        acc6 += block_total(w6 + at, s6, x_sum);
        acc7 += block_total(w7 + at, s7, x_sum);
    }
    store(row0, acc0);
    store(row0 + 1u, acc1);
    store(row0 + 2u, acc2);
    store(row0 + 3u, acc3);
    store(row0 + 4u, acc4);
    store(row0 + 5u, acc5);
    store(row0 + 6u, acc6);
    store(row0 + 7u, acc7);
}
