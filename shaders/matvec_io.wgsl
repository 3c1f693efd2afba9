// What the two matvec bodies share (matvec.wgsl, matvec_blocks.wgsl):
// their params, the x / y / bias bindings (the weight is binding 0, in the
// decoder's file) and the store of a finished row. Concatenated right
// before the body.

struct Params {
    rows: u32,       // rows of this weight part
    cols: u32,
    row_words: u32,  // u32 words per row
    items: u32,      // work items per row (matvec.wgsl: ceil(cols / 16 / G); matvec_blocks.wgsl: cols / 32)
    first_row: u32,  // index of this part's first row in y and bias
    x_offset4: u32,  // x_offset / 4
    y_offset: u32,
    flags: u32,      // 1: add bias, 2: add to y
}

@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn store(row: u32, sum: f32) {
    if (row >= p.rows) {
        return;
    }
    let out_row = p.first_row + row;
    var v = sum;
    if ((p.flags & 1u) != 0u) {
        v += bias[out_row];
    }
    let yi = p.y_offset + out_row;
    if ((p.flags & 2u) != 0u) {
        v += y[yi];
    }
    y[yi] = v;
}
