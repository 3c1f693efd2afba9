// F16 weights: two f16 per word (low half first); rows padded to a whole
// word. A "block" is 16 consecutive values (8 words), one unit; rows need
// not be whole blocks (kernels mask the tail, TAIL = 1).

const BLOCK_VALUES: u32 = 16u;
const BLOCK_WORDS: u32 = 8u;
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
        let at = bw + 2u * i;
        u.q[i] = vec4<f32>(unpack2x16float(w[at]), unpack2x16float(w[at + 1u]));
    }
    u.d = vec4<f32>(1.0);
    return u;
}
