// y = W x (+ bias) (+ y) for one token: the decode matrix-vector product,
// dequantizing on the fly (see quant_common.wgsl for the decoder names).
//
// Memory-bound: every weight word is read once. A workgroup of WG threads
// is split into WG / TPR groups of TPR threads; each group owns R
// consecutive rows. The TPR threads of a group walk those rows side by
// side in items of G consecutive units of one block (thread `lane` takes
// items lane, lane + TPR, ...), so neighbouring threads read neighbouring
// words; each block header is loaded once per item and each x run once for
// all R rows. Partial sums meet in a tree reduction in workgroup memory.
// TPR = 1 (one thread per R rows, whole blocks, no reduction) suits CPU
// adapters, which run SIMD lanes as rows and pay for every load
// instruction rather than for bytes (see ops/matmul.rs, MatvecShape).
//
// Prepended constants: WG (threads), TPR (threads per row group, a power
// of two dividing WG, >= R unless 1), R (rows per group), G (units per
// item, dividing UNITS_PER_BLOCK), TAIL (1 when cols is not a whole number
// of units: F32/F16 only, whose blocks are single units).
//
// x is read as vec4: the host uses this kernel only when x_offset and cols
// are multiples of 4. Params, bindings and store() are in matvec_io.wgsl.

const GROUPS: u32 = WG / TPR;
const ITEMS_PER_BLOCK: u32 = UNITS_PER_BLOCK / G;

var<workgroup> partial: array<f32, WG * R>;

// The 4 x runs of a unit whose runs start at `col`, zero past the row end.
fn load_x(col: vec4<u32>) -> mat4x4<f32> {
    let i = vec4<u32>(p.x_offset4) + col / vec4<u32>(4u);
    var xr = mat4x4<f32>(x[i.x], x[i.y], x[i.z], x[i.w]);
    if (TAIL != 0u) {
        for (var r = 0u; r < 4u; r++) {
            xr[r] = select(vec4<f32>(0.0), xr[r], vec4<u32>(col[r]) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.cols));
        }
    }
    return xr;
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let lane = lid % TPR;
    let g = lid / TPR;
    let row0 = ((group.x + group.y * groups.x) * GROUPS + g) * R;

    // Rows past the end read the last row (never out of bounds) and are
    // not stored.
    var row_word: array<u32, R>;
    for (var r = 0u; r < R; r++) {
        row_word[r] = min(row0 + r, p.rows - 1u) * p.row_words;
    }

    var acc: array<f32, R>;
    for (var item = lane; item < p.items; item += TPR) {
        let block = item / ITEMS_PER_BLOCK;
        let first_k = (item % ITEMS_PER_BLOCK) * G;
        let block_col = block * BLOCK_VALUES;
        var headers: array<Header, R>;
        for (var r = 0u; r < R; r++) {
            headers[r] = block_header(row_word[r] + block * BLOCK_WORDS);
        }
        for (var k = first_k; k < first_k + G; k++) {
            let col = vec4<u32>(block_col) + unit_cols(k);
            let xr = load_x(col);
            var x_sums = vec4<f32>(0.0);
            if (HAS_MIN) {
                x_sums = vec4<f32>(1.0) * xr;
            }
            for (var r = 0u; r < R; r++) {
                let u = unit_values(row_word[r] + block * BLOCK_WORDS, k, headers[r]);
                let dots = vec4<f32>(dot(u.q[0], xr[0]), dot(u.q[1], xr[1]), dot(u.q[2], xr[2]), dot(u.q[3], xr[3]));
                var s = dot(u.d, dots);
                if (HAS_MIN) {
                    s += dot(u.m, x_sums);
                }
                acc[r] += s;
            }
        }
    }

    if (TPR == 1u) {
        for (var r = 0u; r < R; r++) {
            store(row0 + r, acc[r]);
        }
        return;
    }
    // Tree reduction of each row's TPR partial sums; slot (g, r, lane).
    let base = g * R * TPR;
    for (var r = 0u; r < R; r++) {
        partial[base + r * TPR + lane] = acc[r];
    }
    workgroupBarrier();
    for (var stride = TPR / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            for (var r = 0u; r < R; r++) {
                partial[base + r * TPR + lane] += partial[base + r * TPR + lane + stride];
            }
        }
        workgroupBarrier();
    }
    if (lane < R) {
        store(row0 + lane, partial[base + lane * TPR]);
    }
}
