// Q8_0 in the split layout: a block's quants are two vec4<u32>, word t
// holding columns 4t..4t+3 as signed bytes (the first vec4 runs "a" of the
// four pairs, the second runs "b"); its scale word is d | 0. Value = d * q.
//
// Bytes become floats by unpack4x8unorm after flipping their sign bits (see
// block_dot_q8_0.wgsl): u = (q + 128) / 255, so a block's dot product is
// d * (255 * sum(u x) - 128 * sum(x)).

const QUANT_WORDS: u32 = 8u;
const QUANT_VEC4S: u32 = 2u;

fn offset_bytes(word: u32) -> vec4<f32> {
    return unpack4x8unorm(word ^ 0x80808080u);
}

// --- matvec_split.wgsl ---

fn split_x_b(xb: vec4<f32>) -> vec4<f32> {
    return xb;
}

fn split_block(qi: u32, scale_word: u32, x: BlockX) -> f32 {
    let qa = w[qi];
    let qb = w[qi + 1u];
    let s = dot(offset_bytes(qa.x), x.a0) + dot(offset_bytes(qa.y), x.a1)
        + dot(offset_bytes(qa.z), x.a2) + dot(offset_bytes(qa.w), x.a3)
        + dot(offset_bytes(qb.x), x.b0) + dot(offset_bytes(qb.y), x.b1)
        + dot(offset_bytes(qb.z), x.b2) + dot(offset_bytes(qb.w), x.b3);
    return unpack2x16float(scale_word).x * (255.0 * s - 128.0 * x.sum);
}

// --- matmul_blocks.wgsl (rows addressed in vec4s: W_WORDS = 4) ---

const W_WORDS: u32 = 4u;
const HAS_OFFSETS: bool = true;

fn pair_weights(row: u32, b: u32, k: u32, scale: f32) -> mat2x4<f32> {
    let at = row + 2u * b;
    return mat2x4<f32>(offset_bytes(w[at][k]), offset_bytes(w[at + 1u][k])) * scale;
}

fn block_scales(row: u32, b: u32) -> vec2<f32> {
    let d = unpack2x16float(split_scale_word(4u * row, row_blocks(), b)).x;
    return vec2<f32>(255.0 * d, -128.0 * d);
}

// --- embedding_split.wgsl ---

fn split_run(row_word: u32, blocks: u32, b: u32, r: u32) -> vec4<f32> {
    let word = split_quant_word(row_word + b * QUANT_WORDS + r);
    let d = unpack2x16float(split_scale_word(row_word, blocks, b)).x;
    return (offset_bytes(word) * 255.0 - 128.0) * d;
}
