// Top-1 (greedy argmax) with the row's log-sum-exp, in two passes:
//   first:  workgroup w reduces logits [w * CHUNK, (w + 1) * CHUNK) to one
//           partial (best key, its id, sum_j exp((l_j - best) / T)),
//   merge:  one workgroup reduces the partials to the result.
// Each invocation strides over its range (coalesced), then a tree reduction
// in workgroup memory. Ties go to the smaller id. The best key is also the
// max, so one (key, id, sum) triple carries everything.
// Output: [id, logit bits, max, ln(sum)]. Prepended: WG (a power of two), CHUNK.

struct Params {
    n_items: u32, // logits in the first pass, partials in the merge pass
    offset: u32,  // of the row in `logits`
    first: u32,
    last: u32,    // write `out` instead of partials
    in_off: u32,  // word offsets of the partials in `scratch`
    out_off: u32,
    inv_t: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

struct Best {
    key: u32,
    id: u32,
    s: f32, // sum relative to key
}

var<workgroup> sh_key: array<u32, WG>;
var<workgroup> sh_id: array<u32, WG>;
var<workgroup> sh_s: array<f32, WG>;

fn merge(a: Best, b: Best) -> Best {
    if (b.s == 0.0) {
        return a;
    }
    if (a.s == 0.0) {
        return b;
    }
    if (b.key > a.key) {
        return Best(b.key, b.id, a.s * scaled(a.key, b.key, p.inv_t) + b.s);
    }
    if (b.key == a.key) {
        return Best(a.key, min(a.id, b.id), a.s + b.s);
    }
    return Best(a.key, a.id, a.s + b.s * scaled(b.key, a.key, p.inv_t));
}

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = wg.x + wg.y * groups.x;
    let begin = w * CHUNK;
    if (begin >= p.n_items) {
        return;
    }
    let end = select(min(begin + CHUNK, p.n_items), p.n_items, p.last != 0u);

    var best = Best(0u, NO_ID, 0.0);
    for (var i = begin + lid; i < end; i += WG) {
        if (p.first != 0u) {
            best = merge(best, Best(key_of(logits[p.offset + i]), i, 1.0));
        } else {
            let at = p.in_off + 3u * i;
            best = merge(best, Best(scratch[at], scratch[at + 1u], bitcast<f32>(scratch[at + 2u])));
        }
    }
    sh_key[lid] = best.key;
    sh_id[lid] = best.id;
    sh_s[lid] = best.s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            let a = Best(sh_key[lid], sh_id[lid], sh_s[lid]);
            let b = Best(sh_key[lid + stride], sh_id[lid + stride], sh_s[lid + stride]);
            let m = merge(a, b);
            sh_key[lid] = m.key;
            sh_id[lid] = m.id;
            sh_s[lid] = m.s;
        }
        workgroupBarrier();
    }
    if (lid != 0u) {
        return;
    }
    if (p.last != 0u) {
        out[0] = sh_id[0];
        out[1] = bitcast<u32>(value_of(sh_key[0]));
        out[2] = bitcast<u32>(value_of(sh_key[0]));
        out[3] = bitcast<u32>(log(sh_s[0]));
    } else {
        let at = p.out_off + 3u * w;
        scratch[at] = sh_key[0];
        scratch[at + 1u] = sh_id[0];
        scratch[at + 2u] = bitcast<u32>(sh_s[0]);
    }
}
