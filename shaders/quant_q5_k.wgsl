// Q5_K, GPU block = ggml block, 44 words: d, dmin: f16 (word 0), scales[12]
// (words 1..4, see quant_k_scales.wgsl), qh[32] (words 4..12), qs[128]
// (words 12..44). As Q4_K, plus a 5th bit: bit s of qh[l] for element
// 32s + l.
//
// Unit k (0..16) = (c = k / 4, p = k % 4): qs words 8c + 2p, 8c + 2p + 1
// and qh words 2p, 2p + 1 (l = 8p..8p+8); columns as in Q4_K.

const BLOCK_VALUES: u32 = 256u;
const BLOCK_WORDS: u32 = 44u;
const UNITS_PER_BLOCK: u32 = 16u;
const HAS_MIN: bool = true;

fn unit_cols(k: u32) -> vec4<u32> {
    return vec4<u32>(0u, 4u, 32u, 36u) + vec4<u32>(64u * (k / 4u) + 8u * (k % 4u));
}

// 16 times bit `bit` of each byte of `word`.
fn q5_k_high(word: u32, bit: u32) -> vec4<f32> {
    return vec4<f32>(((vec4<u32>(word) >> (BYTE_SHIFTS + vec4<u32>(bit))) & vec4<u32>(1u)) * 16u);
}

// d and dmin, and the 12 packed scale bytes.
struct Header {
    dm: vec2<f32>,
    scales: vec3<u32>,
}

fn block_header(bw: u32) -> Header {
    return Header(unpack2x16float(w[bw]), vec3<u32>(w[bw + 1u], w[bw + 2u], w[bw + 3u]));
}

fn unit_values(bw: u32, k: u32, h: Header) -> Unit {
    let c = k / 4u;
    let p = k % 4u;
    let a = w[bw + 12u + 8u * c + 2u * p];
    let b = w[bw + 13u + 8u * c + 2u * p];
    let ha = w[bw + 4u + 2u * p];
    let hb = w[bw + 5u + 2u * p];
    let sm = k_scale_min_pair(h.scales, 2u * c);
    var u: Unit;
    u.q = mat4x4<f32>(
        lo_nibbles(a) + q5_k_high(ha, 2u * c),
        lo_nibbles(b) + q5_k_high(hb, 2u * c),
        hi_nibbles(a) + q5_k_high(ha, 2u * c + 1u),
        hi_nibbles(b) + q5_k_high(hb, 2u * c + 1u),
    );
    u.d = h.dm.x * sm.xxzz;
    u.m = -(h.dm.y * sm.yyww);
    return u;
}
