// Sentence pooling over packed sequences, then optional L2 normalisation:
// out[s, :] = mean / first / last of the rows of sequence s of x.
//
// Sequence s is seqs[s] = (first row, rows). One workgroup per sequence;
// its WG (prepended, a power of two) threads stride over the hidden
// dimensions, each writing its own dimensions and summing their squares,
// then one tree reduction gives the norm and each thread rescales what it
// wrote. MODE: 0 mean, 1 first row (CLS), 2 last row.

struct Params {
    n_seqs: u32,
    hidden: u32,
    mode: u32,
    normalize: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> seqs: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let s = group.x + group.y * groups.x;
    if (s >= p.n_seqs) {
        return;
    }
    let first = seqs[s].x;
    let rows = seqs[s].y;
    let base = s * p.hidden;

    var sq = 0.0;
    for (var d = lid; d < p.hidden; d += WG) {
        var v = 0.0;
        if (p.mode == 0u) {
            for (var t = 0u; t < rows; t++) {
                v += x[(first + t) * p.hidden + d];
            }
            v /= f32(rows);
        } else if (p.mode == 1u) {
            v = x[first * p.hidden + d];
        } else {
            v = x[(first + rows - 1u) * p.hidden + d];
        }
        out[base + d] = v;
        sq += v * v;
    }
    if (p.normalize == 0u) {
        return;
    }

    partial[lid] = sq;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    // torch.nn.functional.normalize's eps: a zero vector stays zero.
    let scale = 1.0 / max(sqrt(partial[0]), 1e-12);
    for (var d = lid; d < p.hidden; d += WG) {
        out[base + d] *= scale;
    }
}
