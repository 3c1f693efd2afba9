// Embedding gather for Q4_1 and Q8_0 tables in the split layout
// (split_common.wgsl): y[t, :] = dequantized table row ids[t] * scale, for
// one part of a (possibly split) table. One workgroup per token (see
// embedding_io.wgsl); its WG threads walk the row's runs of 4 columns (8
// per block, see split_run). Prepended constant: WG.

// Params, the ids / y bindings and token_row: embedding_io.wgsl.

fn row_blocks() -> u32 {
    return p.cols / 32u;
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = token_row(group, groups);
    if (!t.found) {
        return;
    }
    let row_word = t.row_word;
    let out = t.out;
    let blocks = row_blocks();
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
