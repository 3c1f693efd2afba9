// Embedding gather: y[t, :] = dequantized table row ids[t] * scale, for
// one part of a (possibly split) table. One workgroup per token; its WG
// threads walk the row's 16-value units. Tokens whose row lives in another
// part are left for that part's dispatch.
//
// Ids are clamped to the table (the host validates them first), so a bad
// id never reads out of bounds. Prepended constant: WG.

struct Params {
    rows: u32,       // rows of this table part
    cols: u32,
    row_words: u32,  // u32 words per row
    units: u32,      // 16-value units per row, ceil(cols / 16)
    first_row: u32,  // index of this part's first row in the whole table
    total_rows: u32, // rows of the whole table
    n: u32,          // tokens
    ids_offset: u32,
    y_offset: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let token = group.x + group.y * groups.x;
    if (token >= p.n) {
        return;
    }
    let id = min(ids[p.ids_offset + token], p.total_rows - 1u);
    if (id < p.first_row || id - p.first_row >= p.rows) {
        return;
    }
    let row_word = (id - p.first_row) * p.row_words;
    let out = p.y_offset + token * p.cols;
    for (var unit = lid; unit < p.units; unit += WG) {
        let block = unit / UNITS_PER_BLOCK;
        let k = unit % UNITS_PER_BLOCK;
        let col = vec4<u32>(block * BLOCK_VALUES) + unit_cols(k);
        let bw = row_word + block * BLOCK_WORDS;
        let u = unit_values(bw, k, block_header(bw));
        for (var r = 0u; r < 4u; r++) {
            let v = (u.q[r] * u.d[r] + vec4<f32>(u.m[r])) * p.scale;
            for (var e = 0u; e < 4u; e++) {
                if (col[r] + e < p.cols) {
                    y[out + col[r] + e] = v[e];
                }
            }
        }
    }
}
