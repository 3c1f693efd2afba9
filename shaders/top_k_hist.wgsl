// Radix select, counting pass: workgroup w counts the keys of logits
// [w * CHUNK, (w + 1) * CHUNK) per bucket in workgroup memory, then adds
// its non-zero buckets to the histogram in `scratch`.
//   level 1: bucket = top 11 bits of the key; also writes the chunk's
//            log-sum-exp partial (this is the only pass that sees every
//            logit's value for the normaliser).
//   level 2: only keys in the level-1 bucket of the k-th key, bucket = the
//            next 11 bits; skipped when level 1 already narrowed enough.
// Prepended: WG (a power of two), CHUNK.

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> scratch: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> hist: array<atomic<u32>, BUCKETS>;
var<workgroup> sh_m: array<u32, WG>;
var<workgroup> sh_s: array<f32, WG>;
var<workgroup> sh_skip: u32;

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
    if (lid == 0u) {
        sh_skip = select(0u, 1u, p.level == 2u && atomicLoad(&scratch[p.state + S_LEVEL2]) == 0u);
    }
    for (var b = lid; b < BUCKETS; b += WG) {
        atomicStore(&hist[b], 0u);
    }
    if (workgroupUniformLoad(&sh_skip) != 0u) {
        return;
    }
    let end = min(begin + CHUNK, p.n_items);
    var lse = Lse(0u, 0.0);
    if (p.level == 1u) {
        // Max first, then one exp per logit relative to it (a second read of
        // the same few logits, from cache): cheaper than an online merge.
        var m = 0u;
        for (var i = begin + lid; i < end; i += WG) {
            let key = key_of(logits[p.offset + i]);
            m = max(m, key);
            atomicAdd(&hist[key >> 21u], 1u);
        }
        var s = 0.0;
        if (m != 0u) {
            if (m == NEG_INF_KEY || m == POS_INF_KEY) {
                for (var i = begin + lid; i < end; i += WG) {
                    s += scaled(key_of(logits[p.offset + i]), m, p.inv_t);
                }
            } else {
                let mv = value_of(m);
                for (var i = begin + lid; i < end; i += WG) {
                    let key = key_of(logits[p.offset + i]);
                    let e = exp(max((value_of(key) - mv) * p.inv_t, -100.0));
                    s += select(select(e, 1.0, key == m), 0.0, key == NEG_INF_KEY);
                }
            }
        }
        lse = Lse(m, s);
    } else {
        let b1 = atomicLoad(&scratch[p.state + S_B1]);
        for (var i = begin + lid; i < end; i += WG) {
            let key = key_of(logits[p.offset + i]);
            if ((key >> 21u) == b1) {
                atomicAdd(&hist[(key >> 10u) & (BUCKETS - 1u)], 1u);
            }
        }
    }
    workgroupBarrier();
    let base = p.state + S_HIST + (p.level - 1u) * BUCKETS;
    for (var b = lid; b < BUCKETS; b += WG) {
        let c = atomicLoad(&hist[b]);
        if (c != 0u) {
            atomicAdd(&scratch[base + b], c);
        }
    }
    if (p.level != 1u) {
        return;
    }
    sh_m[lid] = lse.m;
    sh_s[lid] = lse.s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            let m = lse_merge(Lse(sh_m[lid], sh_s[lid]), Lse(sh_m[lid + stride], sh_s[lid + stride]), p.inv_t);
            sh_m[lid] = m.m;
            sh_s[lid] = m.s;
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        atomicStore(&scratch[s_partials() + 2u * w], sh_m[0]);
        atomicStore(&scratch[s_partials() + 2u * w + 1u], bitcast<u32>(sh_s[0]));
    }
}
