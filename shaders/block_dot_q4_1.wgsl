// Q4_1 for matvec_blocks.wgsl: 5 words, d and m as f16 (word 0), then 16
// bytes whose low nibbles are columns 0..15 and high nibbles 16..31 (word
// 1 + k holds columns 4k..4k+3 and 16+4k..19+4k). Value = d * nibble + m.
//
// Nibbles are turned into floats by unpack4x8unorm on the masked word (one
// builtin for 4 values, where shift, mask and convert per value cost
// SwiftShader 1.6x the time): the low nibbles come out as q / 255, the high
// ones, left in place, as 16 q / 255. The 1/16 goes into run b's x once per
// pair (shared by all rows) and the 255 into d once per block.

const BLOCK_WORDS: u32 = 5u;

fn pair_x_b(xb: vec4<f32>) -> vec4<f32> {
    return xb * 0.0625;
}

fn pair_dot(at: u32, k: u32, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
    let word = w[at + 1u + k];
    return dot(unpack4x8unorm(word & 0x0f0f0f0fu), xa) + dot(unpack4x8unorm(word & 0xf0f0f0f0u), xb);
}

// The block's value from its pair sums `s` and the sum of its 32 x values.
fn block_total(at: u32, s: f32, x_sum: f32) -> f32 {
    let dm = unpack2x16float(w[at]);
    return (255.0 * dm.x) * s + dm.y * x_sum;
}

// For matmul_blocks.wgsl (several tokens): pair k's weights, run a then run
// b, from unit values (q / 255) times the block's `scale`, and the block's
// (scale, offset) such that a value is scale * unit + offset. The high
// nibbles are shifted down here (one shift per word), as the decoded pair
// serves several tokens.
const W_WORDS: u32 = 1u;
const HAS_OFFSETS: bool = true;

fn pair_weights(row: u32, b: u32, k: u32, scale: f32) -> mat2x4<f32> {
    let at = row + b * BLOCK_WORDS;
    let word = w[at + 1u + k];
    return mat2x4<f32>(unpack4x8unorm(word & 0x0f0f0f0fu), unpack4x8unorm((word >> 4u) & 0x0f0f0f0fu)) * scale;
}

fn block_scales(row: u32, b: u32) -> vec2<f32> {
    let at = row + b * BLOCK_WORDS;
    let dm = unpack2x16float(w[at]);
    return vec2<f32>(255.0 * dm.x, dm.y);
}
