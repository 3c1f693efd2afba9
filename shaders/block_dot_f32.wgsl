// F32 weights for matmul_blocks.wgsl: plain values, bound as vec4s (one
// load per run of 4 where u32 words would take 4); a "block" is 32 values,
// 8 vec4s, pair k being vec4s k and 4 + k. No scales, no offsets.

@group(0) @binding(0) var<storage, read> w: array<vec4<f32>>;

const W_WORDS: u32 = 4u;
const BLOCK_WORDS: u32 = 8u;
const HAS_OFFSETS: bool = false;

fn pair_weights(row: u32, b: u32, k: u32, scale: f32) -> mat2x4<f32> {
    let at = row + b * BLOCK_WORDS;
    return mat2x4<f32>(w[at + k], w[at + 4u + k]);
}

fn block_scales(row: u32, b: u32) -> vec2<f32> {
    return vec2<f32>(1.0, 0.0);
}
