// y = W x (+ bias) (+ y) for n tokens: the prefill matrix-matrix product,
// dequantizing on the fly (see quant_common.wgsl for the decoder names).
//
// Classic shared-memory tiling: a workgroup of 16 x 16 threads computes a
// tile of 64 weight rows x 64 tokens, each thread 4 rows x 4 tokens (rows
// tx + 16i, tokens ty + 16j, so neighbouring threads store neighbouring
// rows). The inner dimension advances one decoder unit (16 values) per
// step: 64 threads dequantize one unit of each of the 64 rows into `ws`
// (each weight value is decoded once per tile and reused for 64 tokens),
// all 256 threads stage the 64 tokens' matching x values into `xs`, and
// every thread accumulates 16 x 16 products in f32.
//
// The 16 values of a unit are four runs that need not be adjacent columns
// (see unit_cols); the tile's inner index follows the unit's own order and
// x is gathered in that same order, which leaves the dot products unchanged.
//
// Prepended constant: TAIL (1 when cols is not a whole number of units:
// F32/F16 only; values past the row end are zeroed). x is read as scalars,
// so any x_offset and cols work.

struct Params {
    rows: u32,       // rows of this weight part
    cols: u32,
    row_words: u32,  // u32 words per row
    units: u32,      // 16-value units per row, ceil(cols / 16)
    first_row: u32,  // index of this part's first row in y and bias
    y_stride: u32,   // values per token row of y: all rows of the weight
    n: u32,          // tokens
    x_offset: u32,
    y_offset: u32,
    flags: u32,      // 1: add bias, 2: add to y
    row_tiles: u32,  // ceil(rows / 64)
    _pad: u32,
}

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const TILE: u32 = 64u;
// Padded row stride of the tiles, against bank conflicts.
const STRIDE: u32 = 65u;

// [k][row] and [k][token], k = 0..16 in unit order.
var<workgroup> ws: array<f32, 16u * STRIDE>;
var<workgroup> xs: array<f32, 16u * STRIDE>;

// Zero where column col + 0..4 is past the row end (TAIL kernels only).
fn tail_mask(v: vec4<f32>, col: u32) -> vec4<f32> {
    if (TAIL == 0u) {
        return v;
    }
    return select(vec4<f32>(0.0), v, vec4<u32>(col) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.cols));
}

@compute @workgroup_size(16, 16)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
    @builtin(local_invocation_id) local: vec3<u32>,
) {
    let tile = group.x + group.y * groups.x;
    let row_base = (tile % p.row_tiles) * TILE;
    let tok_base = (tile / p.row_tiles) * TILE;
    if (tok_base >= p.n) {
        return; // the grid's spare workgroups; uniform per workgroup
    }
    let tx = local.x;
    let ty = local.y;

    // The dequantizing threads' row (clamped: never out of bounds).
    let my_row_word = min(row_base + lid, p.rows - 1u) * p.row_words;
    // The x-staging threads' token and run.
    let x_tok = tok_base + lid / 4u;
    let x_run = lid % 4u;
    let x_row = p.x_offset + min(x_tok, p.n - 1u) * p.cols;

    var acc: array<vec4<f32>, 4>; // acc[j][i]: token ty + 16j, row tx + 16i
    for (var unit = 0u; unit < p.units; unit++) {
        let block = unit / UNITS_PER_BLOCK;
        let k = unit % UNITS_PER_BLOCK;
        let col = vec4<u32>(block * BLOCK_VALUES) + unit_cols(k);

        if (lid < TILE) {
            let bw = my_row_word + block * BLOCK_WORDS;
            let u = unit_values(bw, k, block_header(bw));
            for (var r = 0u; r < 4u; r++) {
                let v = tail_mask(u.q[r] * u.d[r] + vec4<f32>(u.m[r]), col[r]);
                for (var e = 0u; e < 4u; e++) {
                    ws[(4u * r + e) * STRIDE + lid] = v[e];
                }
            }
        }
        {
            let c = col[x_run];
            var v = vec4<f32>(0.0);
            if (x_tok < p.n) {
                let i = x_row + c;
                // Reads past the row end are masked below; they stay in bounds
                // of the binding or are clamped by the implementation.
                v = tail_mask(vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]), c);
            }
            for (var e = 0u; e < 4u; e++) {
                xs[(4u * x_run + e) * STRIDE + lid / 4u] = v[e];
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < 16u; kk++) {
            let a = vec4<f32>(ws[kk * STRIDE + tx], ws[kk * STRIDE + tx + 16u], ws[kk * STRIDE + tx + 32u], ws[kk * STRIDE + tx + 48u]);
            let b = vec4<f32>(xs[kk * STRIDE + ty], xs[kk * STRIDE + ty + 16u], xs[kk * STRIDE + ty + 32u], xs[kk * STRIDE + ty + 48u]);
            acc[0] += b.x * a;
            acc[1] += b.y * a;
            acc[2] += b.z * a;
            acc[3] += b.w * a;
        }
        workgroupBarrier();
    }

    for (var j = 0u; j < 4u; j++) {
        let tok = tok_base + ty + 16u * j;
        for (var i = 0u; i < 4u; i++) {
            let row = row_base + tx + 16u * i;
            if (tok < p.n && row < p.rows) {
                let out_row = p.first_row + row;
                var v = acc[j][i];
                if ((p.flags & 1u) != 0u) {
                    v += bias[out_row];
                }
                let yi = p.y_offset + tok * p.y_stride + out_row;
                if ((p.flags & 2u) != 0u) {
                    v += y[yi];
                }
                y[yi] = v;
            }
        }
    }
}
