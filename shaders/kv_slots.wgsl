// Where a KV cache keeps a position: shared by kv_write.wgsl, kv_quantize.wgsl
// and attention.wgsl (concatenated in front of each). The host's copies are
// CacheLayout::slot (crates/navaja-gpu/src/ops/attention.rs) and
// quant::kv::ring_slot (crates/navaja-core/src/quant/kv.rs).

// Positions the quantized types never quantize (quant::kv::KV_EXACT_START):
// they stay f16 in fixed slots of the ring of recent positions.
const KV_EXACT_START: u32 = 32u;

// Slot of `pos` in a store whose first `sink` positions stay in place and
// whose later ones cycle through `ring_len` slots (ring_len 0: slot = position).
fn cache_slot(pos: u32, sink: u32, ring_len: u32) -> u32 {
    if (ring_len == 0u || pos < sink) {
        return pos;
    }
    return sink + (pos - sink) % ring_len;
}

// Slot of `pos` in the f16 ring of a quantized cache: the first positions
// fixed, the later ones cycling through `cycle` slots.
fn ring_slot(pos: u32, cycle: u32) -> u32 {
    return cache_slot(pos, KV_EXACT_START, cycle);
}

