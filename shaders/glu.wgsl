// Gated linear unit in place: gate[i] = act(gate[i]) * up[i], one element
// per invocation. The activation functions come from activation.wgsl,
// concatenated in front of this file (ACT picks one).

struct Params {
    len: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> gate: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if (i >= p.len) {
        return;
    }
    gate[i] = activate(gate[i]) * up[i];
}
