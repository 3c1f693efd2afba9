// Embedding gather for Q4_1 and Q8_0 tables in the split layout
// (split_common.wgsl): y[t, :] = dequantized table row ids[t] * scale, for
// one part of a (possibly split) table. One workgroup per token; its WG
// threads walk the row's runs of 4 columns (8 per block, see split_run).
// Tokens whose row lives in another part are left for that part's dispatch.
//
// Ids are clamped to the table (the host validates them first), so a bad
// id never reads out of bounds. Params as embedding.wgsl's. Prepended
// constant: WG.

struct Params {
    rows: u32,       // rows of this table part
    cols: u32,       // a multiple of 32
    row_words: u32,  // u32 words per row
    units: u32,      // unused here (embedding.wgsl's 16-value units)
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

fn row_blocks() -> u32 {
    return p.cols / 32u;
}

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
    let blocks = row_blocks();
    let out = p.y_offset + token * p.cols;
    for (var run = lid; run < blocks * 8u; run += WG) {
        let b = run / 8u;
        let r = run % 8u;
        let col = b * 32u + 4u * (r & 3u) + 16u * (r / 4u);
        let v = split_run(row_word, blocks, b, r) * p.scale;
        y[out + col] = v.x;
        y[out + col + 1u] = v.y;
        y[out + col + 2u] = v.z;
        y[out + col + 3u] = v.w;
    }
}
