// F32 weights: plain f32 words. A "block" is 16 consecutive values, one
// unit; rows need not be whole blocks (kernels mask the tail, TAIL = 1).

const BLOCK_VALUES: u32 = 16u;
const BLOCK_WORDS: u32 = 16u;
const UNITS_PER_BLOCK: u32 = 1u;
const HAS_MIN: bool = false;

// Plain values share nothing.
struct Header {
    unused: u32,
}

fn block_header(bw: u32) -> Header {
    return Header(0u);
}

fn unit_cols(k: u32) -> vec4<u32> {
    return vec4<u32>(0u, 4u, 8u, 12u);
}

fn unit_values(bw: u32, k: u32, h: Header) -> Unit {
    var u: Unit;
    for (var i = 0u; i < 4u; i++) {
        let at = bw + 4u * i;
        u.q[i] = bitcast<vec4<f32>>(vec4<u32>(w[at], w[at + 1u], w[at + 2u], w[at + 3u]));
    }
    u.d = vec4<f32>(1.0);
    return u;
}
