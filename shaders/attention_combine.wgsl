// Combines the key splits of attention.wgsl (flash-decoding): each split s
// left an unnormalised output acc_s, its running max m_s and its sum l_s
// (at [row][s][0..D], [D], [D + 1]). With M = max_s m_s and w_s = e^(m_s - M):
//   out[row] = sum_s w_s acc_s / sum_s w_s l_s.
// One workgroup per (token, head) row; a split without keys has m = -1e30
// and l = 0, so its weight is 0. Prepended: WG, D.

struct Params {
    n_rows: u32, // n_tokens * n_heads
    n_splits: u32,
    out_offset: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wg.x + wg.y * groups.x;
    if (row >= p.n_rows) {
        return;
    }
    let stride = D + 2u;
    let base = row * p.n_splits * stride;
    var m = -1.0e30;
    for (var s = 0u; s < p.n_splits; s++) {
        m = max(m, partial[base + s * stride + D]);
    }
    var l = 0.0;
    for (var s = 0u; s < p.n_splits; s++) {
        l += exp(partial[base + s * stride + D] - m) * partial[base + s * stride + D + 1u];
    }
    let inv = select(0.0, 1.0 / l, l > 0.0);
    for (var d = lid; d < D; d += WG) {
        var acc = 0.0;
        for (var s = 0u; s < p.n_splits; s++) {
            acc += exp(partial[base + s * stride + D] - m) * partial[base + s * stride + d];
        }
        out[p.out_offset + row * D + d] = acc * inv;
    }
}
