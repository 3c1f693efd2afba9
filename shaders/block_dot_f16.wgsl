// F16 weights for matmul_blocks.wgsl: plain halves, bound as vec2<u32>
// (a run of 4 values per load); a "block" is 32 values, 8 runs, pair k
// being runs k and 4 + k. No scales, no offsets.

@group(0) @binding(0) var<storage, read> w: array<vec2<u32>>;

const W_WORDS: u32 = 2u;
const BLOCK_WORDS: u32 = 8u;
const HAS_OFFSETS: bool = false;

fn run_values(run: vec2<u32>) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(run.x), unpack2x16float(run.y));
}

fn pair_weights(row: u32, b: u32, k: u32, scale: f32) -> mat2x4<f32> {
    let at = row + b * BLOCK_WORDS;
    return mat2x4<f32>(run_values(w[at + k]), run_values(w[at + 4u + k]));
}

fn block_scales(row: u32, b: u32) -> vec2<f32> {
    return vec2<f32>(1.0, 0.0);
}
