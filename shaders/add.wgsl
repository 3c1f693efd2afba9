// Residual add in place: x[x_offset + i] += y[y_offset + i] for i < len.
// One element per invocation: consecutive invocations touch consecutive
// addresses, which is all a memory-bound add needs.

struct Params {
    len: u32,
    x_offset: u32,
    y_offset: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if (i >= p.len) {
        return;
    }
    x[p.x_offset + i] += y[p.y_offset + i];
}
