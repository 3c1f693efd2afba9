// Read bandwidth probe: stream a buffer once, as fast as a simple kernel
// can, to have a ceiling to hold memory-bound kernels (the matvec) against.
//
// Each workgroup reads its own contiguous slice of `per_group` vec4<u32>
// values, WG threads side by side with 4 independent loads in flight per
// iteration; the sum (wrapping) of everything read is reduced in workgroup
// memory and written, one u32 per workgroup, so no load can be optimised
// away. Prepended constant: WG (a power of two).

struct Params {
    len: u32,        // vec4 values in src
    per_group: u32,  // vec4 values per workgroup, a multiple of 4 * WG
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> partial: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = group.x + group.y * groups.x;
    let start = g * p.per_group;
    let end = min(start + p.per_group, p.len);
    var a = vec4<u32>(0u);
    var b = vec4<u32>(0u);
    var i = start + lid;
    for (; i + 3u * WG < end; i += 4u * WG) {
        a += src[i] + src[i + WG];
        b += src[i + 2u * WG] + src[i + 3u * WG];
    }
    for (; i < end; i += WG) {
        a += src[i];
    }
    a += b;
    partial[lid] = a.x + a.y + a.z + a.w;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        out[g] = partial[0];
    }
}
