// Q4_0, GPU block of 5 words: qs[16] (words 0..4), d: f16 (low half of
// word 4). Element j < 16 is the low nibble of qs[j], element j + 16 its
// high nibble; value = d * (nibble - 8).
//
// Unit k (0, 1) reads words 2k and 2k + 1 (bytes 8k..8k+8): their low
// nibbles are columns 8k..8k+8, their high nibbles columns 16+8k..24+8k.

const BLOCK_VALUES: u32 = 32u;
const BLOCK_WORDS: u32 = 5u;
const UNITS_PER_BLOCK: u32 = 2u;
const HAS_MIN: bool = false;

fn unit_cols(k: u32) -> vec4<u32> {
    return vec4<u32>(0u, 4u, 16u, 20u) + vec4<u32>(8u * k);
}

struct Header {
    d: f32,
}

fn block_header(bw: u32) -> Header {
    return Header(f16_lo(w[bw + 4u]));
}

fn unit_values(bw: u32, k: u32, h: Header) -> Unit {
    let a = w[bw + 2u * k];
    let b = w[bw + 2u * k + 1u];
    let off = vec4<f32>(8.0);
    var u: Unit;
    u.q = mat4x4<f32>(lo_nibbles(a) - off, lo_nibbles(b) - off, hi_nibbles(a) - off, hi_nibbles(b) - off);
    u.d = vec4<f32>(h.d);
    return u;
}
