// LayerNorm, f32: y[r, i] = (x[r, i] - mean_r) / sqrt(var_r + eps) * w[i] + b[i],
// with the population variance (BERT, PyTorch, ggml).
//
// One workgroup per row; WG (prepended, a power of two) threads stride over
// the row. Two tree reductions in workgroup memory: the mean, then the mean
// of the squared deviations (not E[x^2] - mean^2, which cancels when the
// mean is large next to the spread). Rows beyond the 65535 workgroups of one
// dispatch dimension spill into y.

struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

// The sum of `v` over the workgroup; every invocation gets it.
fn workgroup_sum(lid: u32, v: f32) -> f32 {
    partial[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier(); // everyone has read it before `partial` is reused
    return total;
}

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
    let n = f32(p.cols);

    var sum = 0.0;
    for (var i = lid; i < p.cols; i += WG) {
        sum += x[base + i];
    }
    let mean = workgroup_sum(lid, sum) / n;

    var sq = 0.0;
    for (var i = lid; i < p.cols; i += WG) {
        let d = x[base + i] - mean;
        sq += d * d;
    }
    let rstd = 1.0 / sqrt(workgroup_sum(lid, sq) / n + p.eps);

    for (var i = lid; i < p.cols; i += WG) {
        y[base + i] = (x[base + i] - mean) * rstd * w[i] + b[i];
    }
}
