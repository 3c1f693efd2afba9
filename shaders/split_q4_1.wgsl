// Q4_1 in the split layout: a block's quants are one vec4<u32>, word k
// holding columns 4k..4k+3 in its low nibbles (run "a") and 16+4k..19+4k in
// its high ones (run "b"); its scale word is d | m (two f16). Value = d * q + m.
//
// Nibbles become floats by unpack4x8unorm on the masked word (see
// block_dot_q4_1.wgsl for why): low nibbles as q / 255, high ones, left in
// place, as 16 q / 255; the 1/16 goes into run b's x (split_x_b) and the
// 255 into d.

const QUANT_WORDS: u32 = 4u;
const QUANT_VEC4S: u32 = 1u;

const LO: u32 = 0x0f0f0f0fu;
const HI: u32 = 0xf0f0f0f0u;

// --- matvec_split.wgsl ---

fn split_x_b(xb: vec4<f32>) -> vec4<f32> {
    return xb * 0.0625;
}

// The dot product of the block whose quants are vec4 `qi` with x (runs a
// and b of each pair, run b through split_x_b), given the scale word and
// the sum of the block's 32 x values.
fn split_block(qi: u32, scale_word: u32, x: BlockX) -> f32 {
    let q = w[qi];
    let s = dot(unpack4x8unorm(q.x & LO), x.a0) + dot(unpack4x8unorm(q.y & LO), x.a1)
        + dot(unpack4x8unorm(q.z & LO), x.a2) + dot(unpack4x8unorm(q.w & LO), x.a3)
        + dot(unpack4x8unorm(q.x & HI), x.b0) + dot(unpack4x8unorm(q.y & HI), x.b1)
        + dot(unpack4x8unorm(q.z & HI), x.b2) + dot(unpack4x8unorm(q.w & HI), x.b3);
    let dm = unpack2x16float(scale_word);
    return (255.0 * dm.x) * s + dm.y * x.sum;
}

// --- matmul_blocks.wgsl (rows addressed in vec4s: W_WORDS = 4) ---

const W_WORDS: u32 = 4u;
const HAS_OFFSETS: bool = true;

fn pair_weights(row: u32, b: u32, k: u32, scale: f32) -> mat2x4<f32> {
    let word = w[row + b][k];
    return mat2x4<f32>(unpack4x8unorm(word & LO), unpack4x8unorm((word >> 4u) & LO)) * scale;
}

fn block_scales(row: u32, b: u32) -> vec2<f32> {
    let dm = unpack2x16float(split_scale_word(4u * row, row_blocks(), b));
    return vec2<f32>(255.0 * dm.x, dm.y);
}

// --- embedding_split.wgsl ---

// Run r (0..8) of block b: columns 4r.. for r < 4, 16 + 4(r - 4).. after.
fn split_run(row_word: u32, blocks: u32, b: u32, r: u32) -> vec4<f32> {
    let word = split_quant_word(row_word + b * QUANT_WORDS + (r & 3u));
    var q = unpack4x8unorm(word & LO) * 255.0;
    if (r >= 4u) {
        q = unpack4x8unorm(word & HI) * (255.0 / 16.0);
    }
    let dm = unpack2x16float(split_scale_word(row_word, blocks, b));
    return q * dm.x + vec4<f32>(dm.y);
}
