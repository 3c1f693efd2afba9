// Shared by the radix-select passes of top-k (k >= 2): their uniform and the
// layout of their state in `scratch`. The passes find a threshold key T
// such that at least k and at most CAP logits have key >= T, by counting
// keys per bucket of their top 11 bits (level 1), then, when that bucket
// holds too many, per bucket of the next 11 bits within it (level 2); then
// gather the logits with key >= T and sort only those.
//
// State words at p.state:
//   +0 fast: 1 when T was found with at most CAP candidates; the bitonic
//      fallback (top_k_sort.wgsl) then does nothing, else it does the work
//   +1 the level-1 bucket of the k-th key   +2 keys above that bucket
//   +3 T   +4 candidates expected   +5 gather counter   +6 level 2 needed
//   +8 level-1 histogram (BUCKETS words), then the level-2 one
//   then a (max key, sum) log-sum-exp partial per level-1 workgroup
//   then CAP (key, id) candidates

struct Params {
    n_items: u32, // logits
    offset: u32,  // of the row in `logits`
    k: u32,
    level: u32,   // select: 0 clears the state; hist/select: 1 or 2
    state: u32,   // word offset of the state in `scratch`
    n_groups: u32, // workgroups of the hist and gather passes
    inv_t: f32,
    _pad: u32,
}

const BUCKETS: u32 = 2048u;
const S_FAST: u32 = 0u;
const S_B1: u32 = 1u;
const S_ABOVE: u32 = 2u;
const S_T: u32 = 3u;
const S_COUNT: u32 = 4u;
const S_GATHERED: u32 = 5u;
const S_LEVEL2: u32 = 6u;
const S_HIST: u32 = 8u;

fn s_partials() -> u32 {
    return p.state + S_HIST + 2u * BUCKETS;
}

fn s_candidates() -> u32 {
    return s_partials() + 2u * p.n_groups;
}
