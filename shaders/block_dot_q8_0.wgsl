// Q8_0 for matvec_blocks.wgsl: 9 words, 32 signed bytes (words 0..7, word t
// holds columns 4t..4t+3), then d as f16 (low half of word 8). Value = d * q.

const BLOCK_WORDS: u32 = 9u;

fn i8s(word: u32) -> vec4<f32> {
    return vec4<f32>((vec4<i32>(bitcast<i32>(word)) << (vec4<u32>(24u) - BYTE_SHIFTS)) >> vec4<u32>(24u));
}

fn block_dot(at: u32, x: Xb) -> f32 {
    let d = unpack2x16float(w[at + 8u]).x;
    let s = dot(i8s(w[at]), x.v0) + dot(i8s(w[at + 1u]), x.v1) + dot(i8s(w[at + 2u]), x.v2) + dot(i8s(w[at + 3u]), x.v3)
        + dot(i8s(w[at + 4u]), x.v4) + dot(i8s(w[at + 5u]), x.v5) + dot(i8s(w[at + 6u]), x.v6) + dot(i8s(w[at + 7u]), x.v7);
    return d * s;
}
