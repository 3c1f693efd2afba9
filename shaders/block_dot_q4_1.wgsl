// Q4_1 for matvec_blocks.wgsl: 5 words, d and m as f16 (word 0), then 16
// bytes whose low nibbles are columns 0..15 and high nibbles 16..31 (word
// 1 + t holds columns 4t..4t+3 and 16+4t..19+4t). Value = d * nibble + m.

const BLOCK_WORDS: u32 = 5u;

fn lo4(word: u32) -> vec4<f32> {
    return vec4<f32>((vec4<u32>(word) >> BYTE_SHIFTS) & vec4<u32>(0xfu));
}

fn hi4(word: u32) -> vec4<f32> {
    return vec4<f32>((vec4<u32>(word) >> (BYTE_SHIFTS + vec4<u32>(4u))) & vec4<u32>(0xfu));
}

fn block_dot(at: u32, x: Xb) -> f32 {
    let dm = unpack2x16float(w[at]);
    let a0 = w[at + 1u];
    let a1 = w[at + 2u];
    let a2 = w[at + 3u];
    let a3 = w[at + 4u];
    let s = dot(lo4(a0), x.v0) + dot(lo4(a1), x.v1) + dot(lo4(a2), x.v2) + dot(lo4(a3), x.v3)
        + dot(hi4(a0), x.v4) + dot(hi4(a1), x.v5) + dot(hi4(a2), x.v6) + dot(hi4(a3), x.v7);
    return dm.x * s + dm.y * x.sum;
}
