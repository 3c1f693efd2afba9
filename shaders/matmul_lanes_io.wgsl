// What the two CPU-adapter prefill bodies share (matmul_lanes.wgsl,
// matmul_blocks.wgsl): their params and the x / y / bias bindings (the
// weight is binding 0, in the decoder's file). Concatenated right before
// the body; mirrors LanesParams in crates/navaja-gpu/src/ops/matmul.rs.

struct Params {
    rows: u32,       // rows of this weight part
    cols: u32,
    row_words: u32,  // u32 words per row
    blocks: u32,     // blocks per row (matmul_lanes.wgsl: ceil(cols / BLOCK_VALUES); matmul_blocks.wgsl: cols / 32)
    first_row: u32,  // index of this part's first row in y and bias
    y_stride: u32,   // values per token row of y: all rows of the weight
    n: u32,          // tokens
    x_offset4: u32,  // x_offset / 4
    y_offset: u32,
    flags: u32,      // 1: add bias, 2: add to y
    row_groups: u32, // workgroups across the rows: ceil(rows / rows per workgroup)
    _pad: u32,
}

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
