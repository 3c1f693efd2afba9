// RoPE in place, as ggml: for token t (position start_pos + t), head h and
// frequency i < rot_dims / 2, rotate a pair of x by
//   theta_i = pos * freq_scale * freq_base^(-2i / rot_dims) / factor_i.
// Normal pairs (2i, 2i + 1), Neox pairs (i, i + rot_dims / 2).
//
// One invocation per pair. The angle is what makes this kernel careful:
// positions reach 100k+, where an f32 product pos * freq is off by 1e-2 rad.
// So the host passes each frequency in turns (theta / 2pi per position) as a
// double-f32 (hi + lo, computed in f64), the factor division is done in
// double-f32 too, and pos * freq is formed from exact partial products whose
// integer turns are dropped before they are summed. The fractional turn is
// then turned into sin/cos by our own polynomials on [-pi/4, pi/4], because
// WGSL's sin/cos only promise 2^-11 absolute error.
//
// Every product below is of two values with at most 12 significant bits, so
// it is exact in f32 whether or not the compiler fuses it into an fma.

struct Params {
    pairs: u32,       // n_tokens * n_heads * half
    half: u32,        // rot_dims / 2
    n_heads: u32,
    head_dim: u32,
    start_pos: u32,
    neox: u32,        // 1: Neox ordering
    has_factors: u32, // 1: divide by factors[i]
    x_offset: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> freqs: array<vec2<f32>>; // turns per position: hi, lo
@group(0) @binding(2) var<storage, read> factors: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const TAU: f32 = 6.28318530717958647692;

// a = hi + lo exactly, hi keeping the top 12 significant bits of a.
fn split12(a: f32) -> vec2<f32> {
    let hi = bitcast<f32>(bitcast<u32>(a) & 0xfffff000u);
    return vec2<f32>(hi, a - hi);
}

// (hi + lo) / f as a double-f32: q1 = hi / f, then the exact remainder
// hi - q1 * f (Dekker's product) divided by f again.
fn div_df(hi: f32, lo: f32, f: f32) -> vec2<f32> {
    let q1 = hi / f;
    let prod = q1 * f;
    let a = split12(q1);
    let b = split12(f);
    let err = ((a.x * b.x - prod) + a.x * b.y + a.y * b.x) + a.y * b.y;
    let rem = ((hi - prod) - err) + lo;
    return vec2<f32>(q1, rem / f);
}

// frac(pos * (hi + lo)) mapped to [-0.5, 0.5) turns, for pos < 2^24.
fn turns(pos: u32, hi: f32, lo: f32) -> f32 {
    let p1 = f32(pos & 0xfff000u);
    let p0 = f32(pos & 0xfffu);
    let h = split12(hi);
    let t = fract(p1 * h.x) + fract(p1 * h.y) + fract(p0 * h.x) + fract(p0 * h.y) + fract(f32(pos) * lo);
    let f = fract(t);
    return select(f, f - 1.0, f >= 0.5);
}

// (sin, cos) of 2pi * t for t in [-0.5, 0.5]: quadrant, then Taylor series on
// [-pi/4, pi/4] (truncation below 3e-9).
fn sin_cos_turns(t: f32) -> vec2<f32> {
    let q = round(t * 4.0);
    let r = (t - q * 0.25) * TAU;
    let r2 = r * r;
    let s = r * (1.0 + r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0)))));
    let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0 + r2 * (-1.0 / 3628800.0)))));
    let quadrant = i32(q) & 3;
    switch quadrant {
        case 1: { return vec2<f32>(c, -s); }
        case 2: { return vec2<f32>(-s, -c); }
        case 3: { return vec2<f32>(-c, s); }
        default: { return vec2<f32>(s, c); }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let idx = gid.x + gid.y * groups.x * WG;
    if (idx >= p.pairs) {
        return;
    }
    let i = idx % p.half;
    let row = idx / p.half; // token * n_heads + head
    let pos = p.start_pos + row / p.n_heads;

    var freq = freqs[i];
    if (p.has_factors != 0u) {
        freq = div_df(freq.x, freq.y, factors[i]);
    }
    let sc = sin_cos_turns(turns(pos, freq.x, freq.y));

    let base = p.x_offset + row * p.head_dim;
    var a = base + 2u * i;
    var b = a + 1u;
    if (p.neox != 0u) {
        a = base + i;
        b = a + p.half;
    }
    let x0 = x[a];
    let x1 = x[b];
    x[a] = x0 * sc.y - x1 * sc.x;
    x[b] = x0 * sc.x + x1 * sc.y;
}
