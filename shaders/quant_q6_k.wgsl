// Q6_K, GPU block of 53 words: ql[128] (words 0..32), qh[64] (words
// 32..48), scales: [i8; 16] (words 48..52), d: f16 (low half of word 52).
// Element 128n + 32j + l (j < 4): low 4 bits are nibble j / 2 of
// ql[64n + 32(j % 2) + l], high 2 bits are bits 2j..2j+2 of qh[32n + l];
// value = d * scales[8n + 2j + l / 16] * (q - 32).
//
// Unit k (0..16) = (n = k / 8, t = k % 8) takes l = 4t..4t+4 of each j:
// ql words 16n + t and 16n + 8 + t, qh word 8n + t; run j is columns
// 128n + 32j + 4t..+4.

const BLOCK_VALUES: u32 = 256u;
const BLOCK_WORDS: u32 = 53u;
const UNITS_PER_BLOCK: u32 = 16u;
const HAS_MIN: bool = false;

fn unit_cols(k: u32) -> vec4<u32> {
    return vec4<u32>(0u, 32u, 64u, 96u) + vec4<u32>(128u * (k / 8u) + 4u * (k % 8u));
}

// 16 times bits 2j..2j+2 of each byte of `qh`, minus the bias 32.
fn q6_k_high(qh: u32, j: u32) -> vec4<f32> {
    let bits = (vec4<u32>(qh) >> (BYTE_SHIFTS + vec4<u32>(2u * j))) & vec4<u32>(3u);
    return vec4<f32>(bits * 16u) - vec4<f32>(32.0);
}

// The 16 signed scales (4 words) and d.
struct Header {
    scales: vec4<u32>,
    d: f32,
}

fn block_header(bw: u32) -> Header {
    return Header(vec4<u32>(w[bw + 48u], w[bw + 49u], w[bw + 50u], w[bw + 51u]), f16_lo(w[bw + 52u]));
}

fn unit_values(bw: u32, k: u32, h: Header) -> Unit {
    let n = k / 8u;
    let t = k % 8u;
    let a = w[bw + 16u * n + t];
    let b = w[bw + 16u * n + 8u + t];
    let qh = w[bw + 32u + 8u * n + t];
    // Scales of runs j = 0..4: 8n + 2j + t/4, i.e. bytes h and h + 2 of
    // scale words 2n and 2n + 1, with half = t / 4.
    let s0 = i8x4(h.scales[2u * n]);
    let s1 = i8x4(h.scales[2u * n + 1u]);
    let half = t / 4u;
    var u: Unit;
    u.q = mat4x4<f32>(
        lo_nibbles(a) + q6_k_high(qh, 0u),
        lo_nibbles(b) + q6_k_high(qh, 1u),
        hi_nibbles(a) + q6_k_high(qh, 2u),
        hi_nibbles(b) + q6_k_high(qh, 3u),
    );
    u.d = h.d * vec4<f32>(s0[half], s0[half + 2u], s1[half], s1[half + 2u]);
    return u;
}
