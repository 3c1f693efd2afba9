// For matvec_blocks.wgsl: the 32 values of x under one weight block, as 8
// runs of 4 columns (v0 = columns 0..3, ..., v7 = 28..31), and their sum
// (which types with a per-block minimum need).
@group(0) @binding(0) var<storage, read> w: array<u32>;

struct Xb {
    v0: vec4<f32>,
    v1: vec4<f32>,
    v2: vec4<f32>,
    v3: vec4<f32>,
    v4: vec4<f32>,
    v5: vec4<f32>,
    v6: vec4<f32>,
    v7: vec4<f32>,
    sum: f32,
}

const BYTE_SHIFTS = vec4<u32>(0u, 8u, 16u, 24u);
