// Shared by the top-k kernels: logits as order-preserving u32 keys, and the
// (max, sum) pairs of an online log-sum-exp.
//
// Comparing integer keys instead of floats keeps NaN and infinities exact
// even where the shader compiler assumes finite math: NaN becomes -inf's
// key, -0.0 becomes +0.0's, and a larger key is a larger logit. Key 0 lies
// below every logit (even -inf) and marks padding.

const NEG_INF_KEY: u32 = 0x007fffffu;
const POS_INF_KEY: u32 = 0xff800000u;
const NO_ID: u32 = 0xffffffffu;

fn key_of(v: f32) -> u32 {
    var b = bitcast<u32>(v);
    if ((b & 0x7fffffffu) > 0x7f800000u) {
        b = 0xff800000u; // NaN -> -inf
    }
    if (b == 0x80000000u) {
        b = 0u; // -0 -> +0
    }
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn value_of(key: u32) -> f32 {
    return bitcast<f32>(select(~key, key & 0x7fffffffu, (key & 0x80000000u) != 0u));
}

// exp((value(k) - value(m)) * inv_t) for k <= m: exactly 1 when equal, 0
// against +inf or for -inf, and clamped so no infinity reaches exp.
fn scaled(k: u32, m: u32, inv_t: f32) -> f32 {
    if (k == m) {
        return 1.0;
    }
    if (k == NEG_INF_KEY || m == POS_INF_KEY) {
        return 0.0;
    }
    return exp(max((value_of(k) - value_of(m)) * inv_t, -100.0));
}

// A partial log-sum-exp: the max key m and sum_j exp((l_j - m) / T). The
// empty pair is (0, 0.0).
struct Lse {
    m: u32,
    s: f32,
}

fn lse_merge(a: Lse, b: Lse, inv_t: f32) -> Lse {
    if (b.s == 0.0) {
        return a;
    }
    if (a.s == 0.0) {
        return b;
    }
    if (b.m > a.m) {
        return Lse(b.m, a.s * scaled(a.m, b.m, inv_t) + b.s);
    }
    return Lse(a.m, a.s + b.s * scaled(b.m, a.m, inv_t));
}
