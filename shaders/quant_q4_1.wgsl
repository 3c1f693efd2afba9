// Q4_1, GPU block = ggml block, 5 words: d: f16, m: f16 (word 0), qs[16]
// (words 1..5). Nibbles as in Q4_0; value = d * nibble + m.
//
// Unit k (0, 1) reads words 1 + 2k and 2 + 2k: low nibbles are columns
// 8k..8k+8, high nibbles columns 16+8k..24+8k.

const BLOCK_VALUES: u32 = 32u;
const BLOCK_WORDS: u32 = 5u;
const UNITS_PER_BLOCK: u32 = 2u;
const HAS_MIN: bool = true;

fn unit_cols(k: u32) -> vec4<u32> {
    return vec4<u32>(0u, 4u, 16u, 20u) + vec4<u32>(8u * k);
}

struct Header {
    dm: vec2<f32>,
}

fn block_header(bw: u32) -> Header {
    return Header(unpack2x16float(w[bw]));
}

fn unit_values(bw: u32, k: u32, h: Header) -> Unit {
    let a = w[bw + 1u + 2u * k];
    let b = w[bw + 2u + 2u * k];
    var u: Unit;
    u.q = mat4x4<f32>(lo_nibbles(a), lo_nibbles(b), hi_nibbles(a), hi_nibbles(b));
    u.d = vec4<f32>(h.dm.x);
    u.m = vec4<f32>(h.dm.y);
    return u;
}
