// y = W x (+ bias) (+ y) for n tokens, in the shape CPU adapters want
// (lavapipe, SwiftShader): every lane owns R consecutive rows x T
// consecutive tokens of outputs and walks the whole inner dimension in
// registers. No workgroup memory, no barriers, no reduction.
//
// Why: a CPU adapter runs the lanes of a workgroup as SIMD lanes; each
// storage load whose address differs between lanes is a loop over the
// lanes, and workgroup memory is slow. Here the weight loads differ per
// lane (rows), but the x loads depend only on the workgroup and the loop
// counters, so they are uniform (one scalar load, broadcast). Each weight
// unit (16 values) is decoded once per lane into registers and reused for
// T tokens; each x run is loaded once and reused for R rows.
//
// Workgroup `tile` covers rows (tile % row_groups) * WG * R .. + WG * R and
// tokens (tile / row_groups) * T .. + T.
//
// Prepended constants: WG (lanes), R (rows per lane), T (tokens per lane),
// TAIL (1 when cols is not a whole number of units: F32/F16 only, whose
// blocks are single units; values past the row end are zeroed).
//
// x is read as vec4: the host uses this kernel only when x_offset and cols
// are multiples of 4.

// Params and the x / y / bias bindings: matmul_lanes_io.wgsl.

// Zero where column col + 0..4 is past the row end (TAIL kernels only).
fn lanes_tail_mask(v: vec4<f32>, col: u32) -> vec4<f32> {
    if (TAIL == 0u) {
        return v;
    }
    return select(vec4<f32>(0.0), v, vec4<u32>(col) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.cols));
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tile = group.x + group.y * groups.x;
    let tok0 = (tile / p.row_groups) * T;
    if (tok0 >= p.n) {
        return; // the grid's spare workgroups; uniform per workgroup
    }
    let row0 = ((tile % p.row_groups) * WG + lid) * R;

    // Rows and tokens past the end read the last one (never out of
    // bounds) and are not stored.
    var row_word: array<u32, R>;
    for (var r = 0u; r < R; r++) {
        row_word[r] = min(row0 + r, p.rows - 1u) * p.row_words;
    }
    var x_row: array<u32, T>;
    for (var t = 0u; t < T; t++) {
        x_row[t] = p.x_offset4 + min(tok0 + t, p.n - 1u) * (p.cols / 4u);
    }

    var acc: array<array<f32, T>, R>;
    for (var block = 0u; block < p.blocks; block++) {
        let block_word = block * BLOCK_WORDS;
        var headers: array<Header, R>;
        for (var r = 0u; r < R; r++) {
            headers[r] = block_header(row_word[r] + block_word);
        }
        for (var k = 0u; k < UNITS_PER_BLOCK; k++) {
            let col = vec4<u32>(block * BLOCK_VALUES) + unit_cols(k);
            let xi = col / vec4<u32>(4u);
            // The unit's 16 weights of each row, decoded once for T tokens.
            var wv: array<mat4x4<f32>, R>;
            for (var r = 0u; r < R; r++) {
                let u = unit_values(row_word[r] + block_word, k, headers[r]);
                for (var i = 0u; i < 4u; i++) {
                    var v = u.q[i] * u.d[i];
                    if (HAS_MIN) {
                        v += vec4<f32>(u.m[i]);
                    }
                    wv[r][i] = lanes_tail_mask(v, col[i]);
                }
            }
            for (var t = 0u; t < T; t++) {
                let xb = x_row[t];
                let x0 = lanes_tail_mask(x[xb + xi.x], col.x);
                let x1 = lanes_tail_mask(x[xb + xi.y], col.y);
                let x2 = lanes_tail_mask(x[xb + xi.z], col.z);
                let x3 = lanes_tail_mask(x[xb + xi.w], col.w);
                for (var r = 0u; r < R; r++) {
                    acc[r][t] += dot(wv[r][0], x0) + dot(wv[r][1], x1) + dot(wv[r][2], x2) + dot(wv[r][3], x3);
                }
            }
        }
    }

    for (var r = 0u; r < R; r++) {
        let row = row0 + r;
        if (row >= p.rows) {
            break;
        }
        let out_row = p.first_row + row;
        var b = 0.0;
        if ((p.flags & 1u) != 0u) {
            b = bias[out_row];
        }
        for (var t = 0u; t < T; t++) {
            let tok = tok0 + t;
            if (tok < p.n) {
                let yi = p.y_offset + tok * p.y_stride + out_row;
                var v = acc[r][t] + b;
                if ((p.flags & 2u) != 0u) {
                    v += y[yi];
                }
                y[yi] = v;
            }
        }
    }
}
