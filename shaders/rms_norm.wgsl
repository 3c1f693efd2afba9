// RMSNorm, f32: y[r, i] = x[r, i] / sqrt(mean(x[r, :]^2) + eps) * w[i].
//
// One workgroup per row; WG (prepended by the kernel registry, a power of
// two within the device's limits) threads stride over the row, then a tree
// reduction in workgroup memory gives the sum of squares. Rows beyond the
// 65535 workgroups of one dispatch dimension spill into y.

struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // Uniform across the workgroup, so returning early keeps barriers uniform.
    let row = group.x + group.y * groups.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;

    var sum_sq = 0.0;
    for (var i = lid; i < p.cols; i += WG) {
        let v = x[base + i];
        sum_sq += v * v;
    }
    partial[lid] = sum_sq;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }

    let scale = 1.0 / sqrt(partial[0] / f32(p.cols) + p.eps);
    for (var i = lid; i < p.cols; i += WG) {
        y[base + i] = x[base + i] * scale * w[i];
    }
}
