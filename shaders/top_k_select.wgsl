// Radix select, deciding pass (one workgroup):
//   level 0: zeroes the state and both histograms,
//   level 1: walks the level-1 histogram from the top to the bucket where
//            the count reaches k; if the keys in and above it fit in CAP,
//            T is that bucket's lower bound, else level 2 is needed,
//   level 2: the same walk in the level-2 histogram (when needed); the
//            fast path holds if the candidates fit in CAP.
// The walks are serial (2048 buckets, one invocation): cheap next to a
// pass over the logits. Prepended: WG, CAP.

@group(0) @binding(0) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;

// The bucket where the count from the top first reaches `need`: (bucket, count above it, its count).
fn walk(hist: u32, need: u32) -> vec3<u32> {
    var above = 0u;
    for (var b = BUCKETS; b > 0u; ) {
        b -= 1u;
        let c = scratch[hist + b];
        if (above + c >= need || b == 0u) {
            return vec3<u32>(b, above, c);
        }
        above += c;
    }
    return vec3<u32>(0u, above, 0u);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    if (p.level == 0u) {
        for (var i = lid; i < S_HIST + 2u * BUCKETS; i += WG) {
            scratch[p.state + i] = 0u;
        }
        return;
    }
    if (lid != 0u) {
        return;
    }
    let s = p.state;
    if (p.level == 1u) {
        let hit = walk(s + S_HIST, p.k);
        let count = hit.y + hit.z;
        let fast = count <= CAP;
        scratch[s + S_B1] = hit.x;
        scratch[s + S_ABOVE] = hit.y;
        scratch[s + S_T] = hit.x << 21u;
        scratch[s + S_COUNT] = count;
        scratch[s + S_FAST] = select(0u, 1u, fast);
        scratch[s + S_LEVEL2] = select(1u, 0u, fast);
        return;
    }
    if (scratch[s + S_LEVEL2] == 0u) {
        return;
    }
    let above = scratch[s + S_ABOVE];
    let hit = walk(s + S_HIST + BUCKETS, p.k - above);
    let count = above + hit.y + hit.z;
    scratch[s + S_T] = (scratch[s + S_B1] << 21u) | (hit.x << 10u);
    scratch[s + S_COUNT] = count;
    scratch[s + S_FAST] = select(0u, 1u, count <= CAP);
}
