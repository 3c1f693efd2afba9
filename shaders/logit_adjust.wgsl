// Repetition penalties and biases on one row of logits, in place:
//   l = (l > 0 ? l / penalty : l * penalty) + bias
// for each entry {id, penalty, bias}; ids are unique, ids >= n_vocab are
// ignored. One invocation per entry (a few hundred at most), so the row
// itself is never scanned.

struct Entry {
    id: u32,
    penalty: f32,
    bias: f32,
}

struct Params {
    count: u32,
    n_vocab: u32,
    offset: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read> entries: array<Entry>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if (i >= p.count) {
        return;
    }
    let e = entries[i];
    if (e.id >= p.n_vocab) {
        return;
    }
    let at = p.offset + e.id;
    let l = logits[at];
    logits[at] = select(l * e.penalty, l / e.penalty, l > 0.0) + e.bias;
}
