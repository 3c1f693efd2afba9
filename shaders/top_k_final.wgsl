// Radix select, final pass (one workgroup): on the fast path, bitonic-sorts
// the gathered candidates (at most CAP, padded to a power of two) by key
// descending then id ascending, merges the log-sum-exp partials of the
// level-1 pass, and writes `out`: k pairs (id, logit bits), max, ln(sum).
// Prepended: WG (a power of two), CAP (a power of two).

@group(0) @binding(0) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> keys: array<u32, CAP>;
var<workgroup> ids: array<u32, CAP>;
var<workgroup> sh_m: array<u32, WG>;
var<workgroup> sh_s: array<f32, WG>;
var<workgroup> sh_n: u32;

fn before(a: u32, b: u32) -> bool {
    return keys[a] > keys[b] || (keys[a] == keys[b] && ids[a] < ids[b]);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    if (lid == 0u) {
        sh_n = select(0u, min(scratch[p.state + S_GATHERED], CAP), scratch[p.state + S_FAST] != 0u);
    }
    let n = workgroupUniformLoad(&sh_n);
    if (n == 0u) {
        return;
    }
    var size = 2u;
    while (size < n) {
        size *= 2u;
    }
    let cand = s_candidates();
    for (var e = lid; e < size; e += WG) {
        var key = 0u;
        var id = NO_ID;
        if (e < n) {
            key = scratch[cand + 2u * e];
            id = scratch[cand + 2u * e + 1u];
        }
        keys[e] = key;
        ids[e] = id;
    }
    var lse = Lse(0u, 0.0);
    for (var g = lid; g < p.n_groups; g += WG) {
        let at = s_partials() + 2u * g;
        lse = lse_merge(lse, Lse(scratch[at], bitcast<f32>(scratch[at + 1u])), p.inv_t);
    }
    sh_m[lid] = lse.m;
    sh_s[lid] = lse.s;
    workgroupBarrier();

    for (var block = 2u; block <= size; block *= 2u) {
        for (var stride = block / 2u; stride > 0u; stride /= 2u) {
            for (var t = lid; t < size / 2u; t += WG) {
                let i = 2u * t - (t & (stride - 1u));
                let j = i + stride;
                // Blocks with (i & block) == 0 end up in ranking order, the others reversed.
                if (select(before(j, i), before(i, j), (i & block) != 0u)) {
                    let key = keys[i];
                    let id = ids[i];
                    keys[i] = keys[j];
                    ids[i] = ids[j];
                    keys[j] = key;
                    ids[j] = id;
                }
            }
            workgroupBarrier();
        }
    }
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            let m = lse_merge(Lse(sh_m[lid], sh_s[lid]), Lse(sh_m[lid + stride], sh_s[lid + stride]), p.inv_t);
            sh_m[lid] = m.m;
            sh_s[lid] = m.s;
        }
        workgroupBarrier();
    }
    for (var e = lid; e < p.k; e += WG) {
        out[2u * e] = ids[e];
        out[2u * e + 1u] = bitcast<u32>(value_of(keys[e]));
    }
    if (lid == 0u) {
        out[2u * p.k] = bitcast<u32>(value_of(sh_m[0]));
        out[2u * p.k + 1u] = bitcast<u32>(log(sh_s[0]));
    }
}
