// y = W x (+ bias) (+ y) for several tokens (prefill) on CPU adapters, for
// weights read in blocks of 32 values (Q4_1, Q8_0, F32, F16): each
// invocation owns 8 consecutive rows x 8 consecutive tokens of outputs, two
// vec4 per row (tokens 0..3 and 4..7 of its tile), in named locals. A block is walked a pair of runs at
// a time (see block_dot_common.wgsl): the pair's x for the 8 tokens is
// loaded once, as matrices with a column per token, and serves the 8 rows;
// each row's pair of weights is decoded and scaled once and serves the 8
// tokens as vector-matrix products. A block's offsets (Q4_1's m, Q8_0's
// -128 d) are applied once per block, from the per-token sums of its x.
//
// Why this shape: as in matvec_blocks.wgsl, CPU adapters emulate every
// storage load with a loop over the SIMD lanes and keep private arrays in
// memory, so what counts is loads per multiply-add and values kept in
// named locals. Here 24 loads serve 512 multiply-adds, where the one-token
// matvec needs 10 for 64. Measured on SwiftShader (2 cores, 128 tokens of
// SmolLM2's 1536 x 576 Q4_1 matrix): matmul_lanes.wgsl 520 ms, 8 rows x 4
// tokens 155 ms, this shape 115 ms; 4 rows x 8 tokens 215 ms (x loads
// served fewer rows), 16 rows x 8 tokens no better. lavapipe: 45 -> 40 ms.
// MiniLM's F32 384 x 1536: SwiftShader 343 -> 100 ms, lavapipe 35 -> 34 ms.
//
// Before this file: a block_dot_<type>.wgsl (after block_dot_common.wgsl,
// the u32 weight binding, for quantized types; F32 and F16 bind their own)
// or, for weights in the split layout, split_common.wgsl and a
// split_<type>.wgsl, defining
//   W_WORDS: u32                          (u32 words per element of w)
//   HAS_OFFSETS: bool                     (whether block_scales' offset is used)
//   fn block_scales(row, b) -> vec2<f32>  (block b of the row starting at
//                                          element `row` of w: value = scale * unit + offset)
//   fn pair_weights(row, b, k, scale) -> mat2x4<f32>
//                                         (pair k's weights: run a, run b)
// and matmul_lanes_io.wgsl (params, x / y / bias bindings).
// Prepended constant: WG (invocations per workgroup). The host uses this
// kernel only when cols is a multiple of 32 and x_offset of 4.
//
// Workgroup `tile` covers rows (tile % row_groups) * WG * 8 .. + WG * 8 and
// tokens (tile / row_groups) * 8 .. + 8.

// Params and the x / y / bias bindings: matmul_lanes_io.wgsl.

const ROWS: u32 = 8u;
const TOKENS: u32 = 8u;

// Blocks per row (the split layout's decoders find the scales behind them).
fn row_blocks() -> u32 {
    return p.blocks;
}

// Stores row `row`'s outputs for tokens tok0 .. tok0 + 4 (those that exist).
fn store_row(row: u32, tok0: u32, sums: vec4<f32>) {
    if (row >= p.rows) {
        return;
    }
    let out_row = p.first_row + row;
    var b = 0.0;
    if ((p.flags & 1u) != 0u) {
        b = bias[out_row];
    }
    for (var t = 0u; t < 4u; t++) {
        if (tok0 + t >= p.n) {
            return;
        }
        let yi = p.y_offset + (tok0 + t) * p.y_stride + out_row;
        var v = sums[t] + b;
        if ((p.flags & 2u) != 0u) {
            v += y[yi];
        }
        y[yi] = v;
    }
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tile = group.x + group.y * groups.x;
    let tok0 = (tile / p.row_groups) * TOKENS;
    let row0 = ((tile % p.row_groups) * WG + lid) * ROWS;
    if (tok0 >= p.n || row0 >= p.rows) {
        return; // the grid's spare workgroups and the last group's spare lanes
    }
    // Rows and tokens past the end read the last one (never out of
    // bounds) and are not stored.
    let last = p.rows - 1u;
    let row_len = p.row_words / W_WORDS; // elements of w per row
    let w0 = row0 * row_len;
    let w1 = min(row0 + 1u, last) * row_len;
    let w2 = min(row0 + 2u, last) * row_len;
    let w3 = min(row0 + 3u, last) * row_len;
    let w4 = min(row0 + 4u, last) * row_len;
    let w5 = min(row0 + 5u, last) * row_len;
    let w6 = min(row0 + 6u, last) * row_len;
    let w7 = min(row0 + 7u, last) * row_len;
    let cols4 = p.cols / 4u;
    let last_tok = p.n - 1u;
    let x0 = p.x_offset4 + tok0 * cols4;
    let x1 = p.x_offset4 + min(tok0 + 1u, last_tok) * cols4;
    let x2 = p.x_offset4 + min(tok0 + 2u, last_tok) * cols4;
    let x3 = p.x_offset4 + min(tok0 + 3u, last_tok) * cols4;
    let x4 = p.x_offset4 + min(tok0 + 4u, last_tok) * cols4;
    let x5 = p.x_offset4 + min(tok0 + 5u, last_tok) * cols4;
    let x6 = p.x_offset4 + min(tok0 + 6u, last_tok) * cols4;
    let x7 = p.x_offset4 + min(tok0 + 7u, last_tok) * cols4;
    // acc<r>_lo: row r, tokens 0..3 of the tile; acc<r>_hi: tokens 4..7.
    var acc0_lo = vec4<f32>(0.0);
    var acc0_hi = vec4<f32>(0.0);
    var acc1_lo = vec4<f32>(0.0);
    var acc1_hi = vec4<f32>(0.0);
    var acc2_lo = vec4<f32>(0.0);
    var acc2_hi = vec4<f32>(0.0);
    var acc3_lo = vec4<f32>(0.0);
    var acc3_hi = vec4<f32>(0.0);
    var acc4_lo = vec4<f32>(0.0);
    var acc4_hi = vec4<f32>(0.0);
    var acc5_lo = vec4<f32>(0.0);
    var acc5_hi = vec4<f32>(0.0);
    var acc6_lo = vec4<f32>(0.0);
    var acc6_hi = vec4<f32>(0.0);
    var acc7_lo = vec4<f32>(0.0);
    var acc7_hi = vec4<f32>(0.0);
    let ones = vec4<f32>(1.0);
    for (var b = 0u; b < p.blocks; b++) {
        let sc0 = block_scales(w0, b);
        let sc1 = block_scales(w1, b);
        let sc2 = block_scales(w2, b);
        let sc3 = block_scales(w3, b);
        let sc4 = block_scales(w4, b);
        let sc5 = block_scales(w5, b);
        let sc6 = block_scales(w6, b);
        let sc7 = block_scales(w7, b);
        // Per token, the sum of the block's x (for the offsets).
        var x_sums_lo = vec4<f32>(0.0);
        var x_sums_hi = vec4<f32>(0.0);
        for (var k = 0u; k < 4u; k++) {
            let ia = 8u * b + k;
            let ib = ia + 4u;
            // Column t: token t's run (a or b) of this pair.
            let xa_lo = mat4x4<f32>(x[x0 + ia], x[x1 + ia], x[x2 + ia], x[x3 + ia]);
            let xb_lo = mat4x4<f32>(x[x0 + ib], x[x1 + ib], x[x2 + ib], x[x3 + ib]);
            let xa_hi = mat4x4<f32>(x[x4 + ia], x[x5 + ia], x[x6 + ia], x[x7 + ia]);
            let xb_hi = mat4x4<f32>(x[x4 + ib], x[x5 + ib], x[x6 + ib], x[x7 + ib]);
            if (HAS_OFFSETS) {
                x_sums_lo += ones * xa_lo + ones * xb_lo;
                x_sums_hi += ones * xa_hi + ones * xb_hi;
            }
            let u0 = pair_weights(w0, b, k, sc0.x);
            acc0_lo += u0[0] * xa_lo + u0[1] * xb_lo;
            acc0_hi += u0[0] * xa_hi + u0[1] * xb_hi;
            let u1 = pair_weights(w1, b, k, sc1.x);
            acc1_lo += u1[0] * xa_lo + u1[1] * xb_lo;
            acc1_hi += u1[0] * xa_hi + u1[1] * xb_hi;
            let u2 = pair_weights(w2, b, k, sc2.x);
            acc2_lo += u2[0] * xa_lo + u2[1] * xb_lo;
            acc2_hi += u2[0] * xa_hi + u2[1] * xb_hi;
            let u3 = pair_weights(w3, b, k, sc3.x);
            acc3_lo += u3[0] * xa_lo + u3[1] * xb_lo;
            acc3_hi += u3[0] * xa_hi + u3[1] * xb_hi;
            let u4 = pair_weights(w4, b, k, sc4.x);
            acc4_lo += u4[0] * xa_lo + u4[1] * xb_lo;
            acc4_hi += u4[0] * xa_hi + u4[1] * xb_hi;
            let u5 = pair_weights(w5, b, k, sc5.x);
            acc5_lo += u5[0] * xa_lo + u5[1] * xb_lo;
            acc5_hi += u5[0] * xa_hi + u5[1] * xb_hi;
            let u6 = pair_weights(w6, b, k, sc6.x);
            acc6_lo += u6[0] * xa_lo + u6[1] * xb_lo;
            acc6_hi += u6[0] * xa_hi + u6[1] * xb_hi;
            let u7 = pair_weights(w7, b, k, sc7.x);
            acc7_lo += u7[0] * xa_lo + u7[1] * xb_lo;
            acc7_hi += u7[0] * xa_hi + u7[1] * xb_hi;
        }
        if (HAS_OFFSETS) {
            acc0_lo += sc0.y * x_sums_lo;
            acc0_hi += sc0.y * x_sums_hi;
            acc1_lo += sc1.y * x_sums_lo;
            acc1_hi += sc1.y * x_sums_hi;
            acc2_lo += sc2.y * x_sums_lo;
            acc2_hi += sc2.y * x_sums_hi;
            acc3_lo += sc3.y * x_sums_lo;
            acc3_hi += sc3.y * x_sums_hi;
            acc4_lo += sc4.y * x_sums_lo;
            acc4_hi += sc4.y * x_sums_hi;
            acc5_lo += sc5.y * x_sums_lo;
            acc5_hi += sc5.y * x_sums_hi;
            acc6_lo += sc6.y * x_sums_lo;
            acc6_hi += sc6.y * x_sums_hi;
            acc7_lo += sc7.y * x_sums_lo;
            acc7_hi += sc7.y * x_sums_hi;
        }
    }
    store_row(row0 + 0u, tok0, acc0_lo);
    store_row(row0 + 0u, tok0 + 4u, acc0_hi);
    store_row(row0 + 1u, tok0, acc1_lo);
    store_row(row0 + 1u, tok0 + 4u, acc1_hi);
    store_row(row0 + 2u, tok0, acc2_lo);
    store_row(row0 + 2u, tok0 + 4u, acc2_hi);
    store_row(row0 + 3u, tok0, acc3_lo);
    store_row(row0 + 3u, tok0 + 4u, acc3_hi);
    store_row(row0 + 4u, tok0, acc4_lo);
    store_row(row0 + 4u, tok0 + 4u, acc4_hi);
    store_row(row0 + 5u, tok0, acc5_lo);
    store_row(row0 + 5u, tok0 + 4u, acc5_hi);
    store_row(row0 + 6u, tok0, acc6_lo);
    store_row(row0 + 6u, tok0 + 4u, acc6_hi);
    store_row(row0 + 7u, tok0, acc7_lo);
    store_row(row0 + 7u, tok0 + 4u, acc7_hi);
}
