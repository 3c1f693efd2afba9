// Q8_0 for matvec_blocks.wgsl: 9 words, 32 signed bytes (words 0..7, word t
// holds columns 4t..4t+3), then d as f16 (low half of word 8). Value = d * q.
//
// Bytes are turned into floats by unpack4x8unorm after flipping their sign
// bits (one xor and one builtin per 4 values, where sign-extending shifts
// and converts cost SwiftShader more): u = (q + 128) / 255, so the block's
// dot product is d * (255 * sum(u x) - 128 * sum(x)).

const BLOCK_WORDS: u32 = 9u;

fn offset_bytes(word: u32) -> vec4<f32> {
    return unpack4x8unorm(word ^ 0x80808080u);
}

fn pair_x_b(xb: vec4<f32>) -> vec4<f32> {
    return xb;
}

fn pair_dot(at: u32, k: u32, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
    return dot(offset_bytes(w[at + k]), xa) + dot(offset_bytes(w[at + 4u + k]), xb);
}

fn block_total(at: u32, s: f32, x_sum: f32) -> f32 {
    return unpack2x16float(w[at + 8u]).x * (255.0 * s - 128.0 * x_sum);
}

// For matmul_blocks.wgsl (several tokens): pair k's weights, run a then run
// b, from unit values ((q + 128) / 255) times the block's `scale`, and the
// block's (scale, offset) such that a value is scale * unit + offset.
const W_WORDS: u32 = 1u;
const HAS_OFFSETS: bool = true;

fn pair_weights(row: u32, b: u32, k: u32, scale: f32) -> mat2x4<f32> {
    let at = row + b * BLOCK_WORDS;
    return mat2x4<f32>(offset_bytes(w[at + k]), offset_bytes(w[at + 4u + k])) * scale;
}

fn block_scales(row: u32, b: u32) -> vec2<f32> {
    let at = row + b * BLOCK_WORDS;
    let d = unpack2x16float(w[at + 8u]).x;
    return vec2<f32>(255.0 * d, -128.0 * d);
}
