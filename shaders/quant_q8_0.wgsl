// Q8_0, GPU block of 9 words: qs: [i8; 32] (words 0..8), d: f16 (low half
// of word 8). Value = d * qs[j].
//
// Unit k (0, 1) reads words 4k..4k+4: columns 16k..16k+16.

const BLOCK_VALUES: u32 = 32u;
const BLOCK_WORDS: u32 = 9u;
const UNITS_PER_BLOCK: u32 = 2u;
const HAS_MIN: bool = false;

fn unit_cols(k: u32) -> vec4<u32> {
    return vec4<u32>(0u, 4u, 8u, 12u) + vec4<u32>(16u * k);
}

struct Header {
    d: f32,
}

fn block_header(bw: u32) -> Header {
    return Header(f16_lo(w[bw + 8u]));
}

fn unit_values(bw: u32, k: u32, h: Header) -> Unit {
    let at = bw + 4u * k;
    var u: Unit;
    u.q = mat4x4<f32>(i8x4(w[at]), i8x4(w[at + 1u]), i8x4(w[at + 2u]), i8x4(w[at + 3u]));
    u.d = vec4<f32>(h.d);
    return u;
}
