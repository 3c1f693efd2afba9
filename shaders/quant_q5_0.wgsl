// Q5_0, GPU block of 6 words: qs[16] (words 0..4), qh: u32 (word 4), d: f16
// (low half of word 5). Element j < 16: low nibble of qs[j] plus bit j of
// qh as 5th bit; element j + 16: high nibble plus bit j + 16. Value =
// d * (q - 16).
//
// Unit k (0, 1) reads words 2k and 2k + 1 (bytes 8k..8k+8): columns
// 8k..8k+8 (low nibbles) and 16+8k..24+8k (high nibbles).

const BLOCK_VALUES: u32 = 32u;
const BLOCK_WORDS: u32 = 6u;
const UNITS_PER_BLOCK: u32 = 2u;
const HAS_MIN: bool = false;

fn unit_cols(k: u32) -> vec4<u32> {
    return vec4<u32>(0u, 4u, 16u, 20u) + vec4<u32>(8u * k);
}

// 16 times bits first..first+4 of qh, minus the bias 16.
fn q5_0_high(qh: u32, first: u32) -> vec4<f32> {
    let bits = (vec4<u32>(qh) >> (vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u);
    return vec4<f32>(bits * 16u) - vec4<f32>(16.0);
}

struct Header {
    qh: u32,
    d: f32,
}

fn block_header(bw: u32) -> Header {
    return Header(w[bw + 4u], f16_lo(w[bw + 5u]));
}

fn unit_values(bw: u32, k: u32, h: Header) -> Unit {
    let a = w[bw + 2u * k];
    let b = w[bw + 2u * k + 1u];
    let qh = h.qh;
    var u: Unit;
    u.q = mat4x4<f32>(
        lo_nibbles(a) + q5_0_high(qh, 8u * k),
        lo_nibbles(b) + q5_0_high(qh, 8u * k + 4u),
        hi_nibbles(a) + q5_0_high(qh, 8u * k + 16u),
        hi_nibbles(b) + q5_0_high(qh, 8u * k + 20u),
    );
    u.d = vec4<f32>(h.d);
    return u;
}
