// Radix select, gathering pass: on the fast path, every logit of
// workgroup w's chunk with key >= T is appended (key, id) to the candidate
// list through an atomic counter (the order does not matter: the final
// pass sorts by key, then id). Prepended: WG, CHUNK, CAP.

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> scratch: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let w = wg.x + wg.y * groups.x;
    let begin = w * CHUNK;
    if (begin >= p.n_items || atomicLoad(&scratch[p.state + S_FAST]) == 0u) {
        return;
    }
    let t = atomicLoad(&scratch[p.state + S_T]);
    let end = min(begin + CHUNK, p.n_items);
    let out = s_candidates();
    for (var i = begin + lid; i < end; i += WG) {
        let key = key_of(logits[p.offset + i]);
        if (key >= t) {
            let slot = atomicAdd(&scratch[p.state + S_GATHERED], 1u);
            if (slot < CAP) {
                atomicStore(&scratch[out + 2u * slot], key);
                atomicStore(&scratch[out + 2u * slot + 1u], i);
            }
        }
    }
}
