// y = W x (+ bias) (+ y) for one token on CPU adapters, for Q4_1 and Q8_0
// weights in the split layout (split_common.wgsl): each invocation owns 16
// consecutive rows and walks their blocks in order. A block's 32 x values
// are loaded once (8 vec4 loads) for the 16 rows; each row then takes one
// (Q4_1) or two (Q8_0) vec4 loads of quants and one word load of its scale.
// matvec_blocks.wgsl, on the block layout, needs 5 (Q4_1) or 9 (Q8_0) word
// loads per row and block, and CPU adapters emulate every load with a loop
// over the SIMD lanes.
//
// Measured against matvec_blocks.wgsl (2 cores, medians of 7, 3 rounds):
// SwiftShader, SmolLM2's 1536 x 576 and 576 x 1536 Q4_1 matrices 1.37-1.44x
// as fast (900 -> 650 us), its 49152 x 576 Q8_0 LM head 1.12-1.38x; lavapipe
// 0.9-1.5x, too noisy to say more. 8 rows per invocation gave SwiftShader
// 1.25-1.31x; loading the scales of 4 blocks as one vec4 per row (fewer
// loads, but structs and calls per block) was slower. Workgroups of 8
// (SPLIT_WG in ops/matmul.rs) keep 128 rows per workgroup, as many
// workgroups as the block layout's kernel, for the adapter's threads.
//
// Before this file: split_common.wgsl, a split_<type>.wgsl and
// matvec_io.wgsl (params, x / y / bias bindings, store). Prepended
// constant: WG. The host uses this kernel only when x_offset is a multiple
// of 4 (cols is a whole number of blocks).

const ROWS: u32 = 16u;

fn row_blocks() -> u32 {
    return p.items;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row0 = (gid.x + gid.y * groups.x * WG) * ROWS;
    if (row0 >= p.rows) {
        return;
    }
    let blocks = p.items;
    // Rows past the end read the last row (never out of bounds) and are not stored.
    let last = p.rows - 1u;
    let r0 = row0 * p.row_words;
    let r1 = min(row0 + 1u, last) * p.row_words;
    let r2 = min(row0 + 2u, last) * p.row_words;
    let r3 = min(row0 + 3u, last) * p.row_words;
    let r4 = min(row0 + 4u, last) * p.row_words;
    let r5 = min(row0 + 5u, last) * p.row_words;
    let r6 = min(row0 + 6u, last) * p.row_words;
    let r7 = min(row0 + 7u, last) * p.row_words;
    let r8 = min(row0 + 8u, last) * p.row_words;
    let r9 = min(row0 + 9u, last) * p.row_words;
    let r10 = min(row0 + 10u, last) * p.row_words;
    let r11 = min(row0 + 11u, last) * p.row_words;
    let r12 = min(row0 + 12u, last) * p.row_words;
    let r13 = min(row0 + 13u, last) * p.row_words;
    let r14 = min(row0 + 14u, last) * p.row_words;
    let r15 = min(row0 + 15u, last) * p.row_words;
    var acc0 = 0.0;
    var acc1 = 0.0;
    var acc2 = 0.0;
    var acc3 = 0.0;
    var acc4 = 0.0;
    var acc5 = 0.0;
    var acc6 = 0.0;
    var acc7 = 0.0;
    var acc8 = 0.0;
    var acc9 = 0.0;
    var acc10 = 0.0;
    var acc11 = 0.0;
    var acc12 = 0.0;
    var acc13 = 0.0;
    var acc14 = 0.0;
    var acc15 = 0.0;
    for (var b = 0u; b < blocks; b++) {
        let xi = p.x_offset4 + 8u * b;
        let xr0 = x[xi + 4u];
        let xr1 = x[xi + 5u];
        let xr2 = x[xi + 6u];
        let xr3 = x[xi + 7u];
        var bx: BlockX;
        bx.a0 = x[xi];
        bx.a1 = x[xi + 1u];
        bx.a2 = x[xi + 2u];
        bx.a3 = x[xi + 3u];
        bx.sum = dot(bx.a0 + bx.a1 + bx.a2 + bx.a3 + xr0 + xr1 + xr2 + xr3, vec4<f32>(1.0));
        bx.b0 = split_x_b(xr0);
        bx.b1 = split_x_b(xr1);
        bx.b2 = split_x_b(xr2);
        bx.b3 = split_x_b(xr3);
        // Quants of block b: vec4 (row_word / 4 + b * QUANT_VEC4S); its
        // scale word: row_word + blocks * QUANT_WORDS + b.
        let q = b * QUANT_VEC4S;
        let s = blocks * QUANT_WORDS + b;
        acc0 += split_block(r0 / 4u + q, split_word(r0 + s), bx);
        acc1 += split_block(r1 / 4u + q, split_word(r1 + s), bx);
        acc2 += split_block(r2 / 4u + q, split_word(r2 + s), bx);
        acc3 += split_block(r3 / 4u + q, split_word(r3 + s), bx);
        acc4 += split_block(r4 / 4u + q, split_word(r4 + s), bx);
        acc5 += split_block(r5 / 4u + q, split_word(r5 + s), bx);
        acc6 += split_block(r6 / 4u + q, split_word(r6 + s), bx);
        acc7 += split_block(r7 / 4u + q, split_word(r7 + s), bx);
        acc8 += split_block(r8 / 4u + q, split_word(r8 + s), bx);
        acc9 += split_block(r9 / 4u + q, split_word(r9 + s), bx);
        acc10 += split_block(r10 / 4u + q, split_word(r10 + s), bx);
        acc11 += split_block(r11 / 4u + q, split_word(r11 + s), bx);
        acc12 += split_block(r12 / 4u + q, split_word(r12 + s), bx);
        acc13 += split_block(r13 / 4u + q, split_word(r13 + s), bx);
        acc14 += split_block(r14 / 4u + q, split_word(r14 + s), bx);
        acc15 += split_block(r15 / 4u + q, split_word(r15 + s), bx);
    }
    store(row0, acc0);
    store(row0 + 1u, acc1);
    store(row0 + 2u, acc2);
    store(row0 + 3u, acc3);
    store(row0 + 4u, acc4);
    store(row0 + 5u, acc5);
    store(row0 + 6u, acc6);
    store(row0 + 7u, acc7);
    store(row0 + 8u, acc8);
    store(row0 + 9u, acc9);
    store(row0 + 10u, acc10);
    store(row0 + 11u, acc11);
    store(row0 + 12u, acc12);
    store(row0 + 13u, acc13);
    store(row0 + 14u, acc14);
    store(row0 + 15u, acc15);
}
