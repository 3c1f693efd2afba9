// An activation in place, without a gate: x[offset + i] = act(x[offset + i])
// (BERT's GELU after the up projection, the tanh of a classifier's pooler).
// The functions come from activation.wgsl, concatenated in front (ACT picks one).

struct Params {
    len: u32,
    offset: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if (i >= p.len) {
        return;
    }
    x[p.offset + i] = activate(x[p.offset + i]);
}
