// Weights in the split layout (navaja_core::quant::gpu_split), read by the
// CPU adapters' block kernels: each row is its blocks' quants (QUANT_WORDS
// words per block), then one scale word per block, then zero padding to a
// multiple of 4 words. Bound as vec4<u32> (`w`) so that a block's quants are
// one (Q4_1) or two (Q8_0) loads: CPU adapters emulate every storage load
// with a loop over the SIMD lanes, so the count of loads is what costs. The
// same buffer is bound a second time as u32 words (`ws`, binding 5) for the
// scale words: a word load there cost SwiftShader a little less than a vec4
// load and a dynamic component pick (about 5% of a Q4_1 matvec, near the noise).
//
// A split_<type>.wgsl follows, then a body: matvec_split.wgsl,
// matmul_blocks.wgsl (after matmul_lanes_io.wgsl) or embedding_split.wgsl.
// Each body defines `fn row_blocks() -> u32` (blocks per row, from its params).
//
// Every body must read both `w` and `ws`: pipelines take their bind group
// layout from the shader, which leaves out bindings it never reads, and the
// host binds both for every weight in the split layout.

@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read> ws: array<u32>;

// Word `i` of the weight buffer.
fn split_word(i: u32) -> u32 {
    return ws[i];
}

// Word `i` of the weight buffer, through `w` (bodies that read quants one
// word at a time still bind both).
fn split_quant_word(i: u32) -> u32 {
    return w[i >> 2u][i & 3u];
}

// The scale word of block `b` of the row starting at word `row_word`, in a
// row of `blocks` blocks.
fn split_scale_word(row_word: u32, blocks: u32, b: u32) -> u32 {
    return split_word(row_word + blocks * QUANT_WORDS + b);
}

// One block's 32 x values as matvec_split.wgsl hands them to split_block:
// pair k is run a (columns 4k..4k+3) and run b (16+4k..19+4k), run b passed
// through split_x_b; `sum` is the sum of the 32 values as given.
struct BlockX {
    a0: vec4<f32>,
    a1: vec4<f32>,
    a2: vec4<f32>,
    a3: vec4<f32>,
    b0: vec4<f32>,
    b1: vec4<f32>,
    b2: vec4<f32>,
    b3: vec4<f32>,
    sum: f32,
}
