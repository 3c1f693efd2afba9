// Top-k for k >= 2 with the row's log-sum-exp, by bitonic sorting in
// workgroup memory:
//   first:  workgroup w sorts logits [w * N, (w + 1) * N) and keeps its best
//           K2 (k rounded up to a power of two) as a sorted run,
//   merge:  workgroup w sorts N / K2 runs of the previous pass together and
//           keeps the best K2 again; the host repeats this until one run is
//           left, and that pass (`last`) writes `out`.
// Order: larger logit key first, then smaller id; padding (key 0, NO_ID)
// sorts after every real entry. Each run record in `scratch` is K2 pairs
// (key, id) then the run's partial log-sum-exp (max key, sum).
// Runs are loaded with every other one reversed, which makes each pair of
// runs a bitonic sequence, so the merge passes skip the first log2(K2)
// stages. Output: k pairs (id, logit bits), then max, ln(sum).
// Prepended: WG (a power of two), N (a power of two, the sort size).
// This is the exact fallback of the radix-select path (top_k_select.wgsl):
// with `guard` set, every workgroup returns at once when that path's fast
// flag (scratch word guard - 1) says it already wrote `out`.

struct Params {
    n_items: u32, // logits in the first pass, runs in a merge pass
    offset: u32,  // of the row in `logits`
    k: u32,
    k2: u32,
    first: u32,
    last: u32,
    in_off: u32,  // word offsets of the run records in `scratch`
    out_off: u32,
    inv_t: f32,
    guard: u32,   // 1 + word offset of the radix path's fast flag, or 0
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> keys: array<u32, N>;
var<workgroup> ids: array<u32, N>;
var<workgroup> sh_m: array<u32, WG>;
var<workgroup> sh_s: array<f32, WG>;
var<workgroup> sh_skip: u32;

fn before(a: u32, b: u32) -> bool {
    return keys[a] > keys[b] || (keys[a] == keys[b] && ids[a] < ids[b]);
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if (lid == 0u) {
        sh_skip = 0u;
        if (p.guard != 0u) {
            sh_skip = scratch[p.guard - 1u];
        }
    }
    if (workgroupUniformLoad(&sh_skip) != 0u) {
        return;
    }
    let w = wg.x + wg.y * groups.x;
    let record = 2u * p.k2 + 2u;
    let runs_per_group = N / p.k2;
    var lse = Lse(0u, 0.0);
    var run = 1u; // length of the sorted runs the input arrives in

    if (p.first != 0u) {
        if (w * N >= p.n_items) {
            return;
        }
        for (var e = lid; e < N; e += WG) {
            let i = w * N + e;
            var key = 0u;
            var id = NO_ID;
            if (i < p.n_items) {
                key = key_of(logits[p.offset + i]);
                id = i;
                lse = lse_merge(lse, Lse(key, 1.0), p.inv_t);
            }
            keys[e] = key;
            ids[e] = id;
        }
    } else {
        if (w * runs_per_group >= p.n_items) {
            return;
        }
        run = p.k2;
        for (var e = lid; e < N; e += WG) {
            let local = e / p.k2;
            let r = w * runs_per_group + local;
            var key = 0u;
            var id = NO_ID;
            if (r < p.n_items) {
                var pos = e % p.k2;
                if ((local & 1u) != 0u) {
                    pos = p.k2 - 1u - pos;
                }
                let at = p.in_off + r * record + 2u * pos;
                key = scratch[at];
                id = scratch[at + 1u];
            }
            keys[e] = key;
            ids[e] = id;
        }
        for (var local = lid; local < runs_per_group; local += WG) {
            let r = w * runs_per_group + local;
            if (r < p.n_items) {
                let at = p.in_off + r * record + 2u * p.k2;
                lse = lse_merge(lse, Lse(scratch[at], bitcast<f32>(scratch[at + 1u])), p.inv_t);
            }
        }
    }
    sh_m[lid] = lse.m;
    sh_s[lid] = lse.s;
    workgroupBarrier();

    for (var size = 2u * run; size <= N; size *= 2u) {
        for (var stride = size / 2u; stride > 0u; stride /= 2u) {
            for (var t = lid; t < N / 2u; t += WG) {
                let i = 2u * t - (t & (stride - 1u));
                let j = i + stride;
                // Blocks with (i & size) == 0 end up in ranking order, the others reversed.
                if (select(before(j, i), before(i, j), (i & size) != 0u)) {
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

    if (p.last != 0u) {
        for (var e = lid; e < p.k; e += WG) {
            var logit = bitcast<u32>(value_of(keys[e]));
            if (ids[e] == NO_ID) {
                logit = 0xff800000u; // fewer logits than k: -inf
            }
            out[2u * e] = ids[e];
            out[2u * e + 1u] = logit;
        }
        if (lid == 0u) {
            out[2u * p.k] = bitcast<u32>(value_of(sh_m[0]));
            out[2u * p.k + 1u] = bitcast<u32>(log(sh_s[0]));
        }
    } else {
        let base = p.out_off + w * record;
        for (var e = lid; e < p.k2; e += WG) {
            scratch[base + 2u * e] = keys[e];
            scratch[base + 2u * e + 1u] = ids[e];
        }
        if (lid == 0u) {
            scratch[base + 2u * p.k2] = sh_m[0];
            scratch[base + 2u * p.k2 + 1u] = bitcast<u32>(sh_s[0]);
        }
    }
}
