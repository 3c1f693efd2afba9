// Embedding gather: y[t, :] = dequantized table row ids[t] * scale, for
// one part of a (possibly split) table. One workgroup per token (see
// embedding_io.wgsl); its WG threads walk the row's 16-value units.
// Prepended constant: WG.

// Params, the ids / y bindings and token_row: embedding_io.wgsl.

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
