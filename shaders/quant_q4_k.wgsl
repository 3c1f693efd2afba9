// Q4_K, GPU block = ggml block, 36 words: d, dmin: f16 (word 0), scales[12]
// (words 1..4, see quant_k_scales.wgsl), qs[128] (words 4..36). Element
// 64c + 32h + l is nibble h of qs[32c + l], in sub-block 2c + h; value =
// d * scale * nibble - dmin * min.
//
// Unit k (0..16) = (c = k / 4, p = k % 4) reads qs words 8c + 2p and
// 8c + 2p + 1 (l = 8p..8p+8): low nibbles are columns 64c + 8p + 0..8
// (sub-block 2c), high nibbles 64c + 32 + 8p + 0..8 (sub-block 2c + 1).

const BLOCK_VALUES: u32 = 256u;
const BLOCK_WORDS: u32 = 36u;
const UNITS_PER_BLOCK: u32 = 16u;
const HAS_MIN: bool = true;

fn unit_cols(k: u32) -> vec4<u32> {
    return vec4<u32>(0u, 4u, 32u, 36u) + vec4<u32>(64u * (k / 4u) + 8u * (k % 4u));
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
    let at = bw + 4u + 8u * c + 2u * (k % 4u);
    let a = w[at];
    let b = w[at + 1u];
    let sm = k_scale_min_pair(h.scales, 2u * c);
    var u: Unit;
    u.q = mat4x4<f32>(lo_nibbles(a), lo_nibbles(b), hi_nibbles(a), hi_nibbles(b));
    u.d = h.dm.x * sm.xxzz;
    u.m = -(h.dm.y * sm.yyww);
    return u;
}
