//! The CPU backend's inner loops: dot products of quantized weight rows with
//! an activation vector quantized to 8 bits ([`Q8Vector`], as llama.cpp's
//! q8 activations; 12 bits in groups of 64 for the encoder, in the same i16
//! lanes), and the
//! f32 dot and axpy of attention.
//!
//! Integer products are exact; each block's i32 sum is scaled once by
//! `d_w * d_x`. In WebAssembly built with `simd128` (scripts/build-web.sh)
//! a block is 4 `i32x4.dot_i16x8_s` ([`simd`]); elsewhere the same
//! arithmetic runs as plain loops that the compiler may vectorize
//! ([`portable`]). Both give the same i32 sums, so only the order of the f32
//! block sums differs. Both are public for `crates/navaja-kernel-check`,
//! which compares them inside WebAssembly (`tests/wasm_kernels.test.mjs`).

pub use super::matrix::BLOCK;

/// An activation vector in 8-bit blocks of [`BLOCK`]: `x[i] ≈ d[b] * q[i]`.
/// The quants are widened to i16 once, here, since every weight row reads them.
#[derive(Debug, Clone, Default)]
pub struct Q8Vector {
    pub d: Vec<f32>,
    /// `d[b] * Σ q` over block b: what a weight block's offset multiplies.
    pub sum: Vec<f32>,
    pub q: Vec<i16>,
}

/// The encoder's finer quants: 12 bits (±2047) with one scale per group of
/// [`FINE_GROUP`] values, for weights and activations alike (8-bit weights
/// cost MiniLM 0.1% of cosine similarity). A group's 64 products of two such
/// quants stay far inside i32 (64 · 2047² < 2^28), so a group is summed in
/// integers and scaled once.
pub const FINE: i16 = 2047;
pub const FINE_GROUP: usize = 64;

/// The scale and quants of one block: `d = max|x| / 127`, `q = round(x / d)`.
pub fn quantize_block(x: &[f32]) -> (f32, [i16; BLOCK]) {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let mut q = [0i16; BLOCK];
    if amax > 0.0 && amax.is_finite() {
        let inv = 127.0 / amax;
        for (q, &v) in q.iter_mut().zip(x) {
            *q = (v * inv).round().clamp(-127.0, 127.0) as i16;
        }
        (amax / 127.0, q)
    } else {
        (0.0, q)
    }
}

/// One group of fine quants appended to `q`: `d = max|x| / 2047`, `q = round(x / d)`.
pub fn quantize_fine_group(x: &[f32], q: &mut Vec<i16>) -> f32 {
    // Eight running maxima, element-wise, so that the loop vectorizes (a
    // single max over the slice is a serial chain). NaNs are skipped, as by f32::max.
    let mut m = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(0f32, |a, v| a.max(v.abs()));
    for c in chunks {
        for (m, v) in m.iter_mut().zip(c) {
            *m = if v.abs() > *m { v.abs() } else { *m };
        }
    }
    let amax = m.iter().fold(tail, |a, &v| a.max(v));
    if amax > 0.0 && amax.is_finite() {
        let top = f32::from(FINE);
        let inv = top / amax;
        // Ties to even: one wasm instruction (f32.nearest) where `round` is a
        // libm call; the clamp makes the i32 conversion exact.
        q.extend(x.iter().map(|&v| (v * inv).round_ties_even().clamp(-top, top) as i32 as i16));
        amax / top
    } else {
        q.extend(std::iter::repeat_n(0, x.len()));
        0.0
    }
}

impl Q8Vector {
    /// Quantizes `x` (a multiple of [`BLOCK`] long) into this vector, reusing its memory.
    pub fn quantize(&mut self, x: &[f32]) {
        self.d.clear();
        self.sum.clear();
        self.q.clear();
        for block in x.chunks_exact(BLOCK) {
            let (d, q) = quantize_block(block);
            self.d.push(d);
            self.sum.push(d * q.iter().map(|&v| f32::from(v)).sum::<f32>());
            self.q.extend_from_slice(&q);
        }
    }

    /// Quantizes `x` (a multiple of [`FINE_GROUP`] long) to fine quants: one
    /// scale in `d` per group of [`FINE_GROUP`], no `sum` (the encoder's inputs).
    pub fn quantize_fine(&mut self, x: &[f32]) {
        self.d.clear();
        self.sum.clear();
        self.q.clear();
        for group in x.chunks_exact(FINE_GROUP) {
            let d = quantize_fine_group(group, &mut self.q);
            self.d.push(d);
        }
    }

    pub fn from_values(x: &[f32]) -> Q8Vector {
        let mut v = Q8Vector::default();
        v.quantize(x);
        v
    }
}

/// Each row of `x` (rows of `cols`) quantized by `each` into `q`, reusing
/// its vectors: [`Q8Vector::quantize`], [`Q8Vector::quantize_fine`], or a
/// norm then either.
pub fn quantize_rows<'q>(
    x: &[f32],
    cols: usize,
    q: &'q mut Vec<Q8Vector>,
    each: impl Fn(&mut Q8Vector, &[f32]),
) -> &'q [Q8Vector] {
    let rows = x.len() / cols;
    q.resize_with(rows.max(q.len()), Q8Vector::default);
    for (v, row) in q.iter_mut().zip(x.chunks_exact(cols)) {
        each(v, row);
    }
    &q[..rows]
}

/// `y += a * q` for 8-bit quants (a row of cached values times its block's
/// scale and the attention weight, folded into `a`). Element-wise, so the
/// compiler vectorizes it as is.
pub fn add_scaled_i8(y: &mut [f32], a: f32, q: &[i8]) {
    y.iter_mut().zip(q).for_each(|(y, &q)| *y += a * f32::from(q));
}

/// Blocks that every slice holds in full.
fn blocks(d: &[f32], quant_bytes: usize, per_block: usize, x: &Q8Vector) -> usize {
    d.len().min(quant_bytes / per_block).min(x.d.len()).min(x.q.len() / BLOCK)
}

/// The kernels in WebAssembly SIMD (only in a wasm build with `simd128`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd {
    use core::arch::wasm32::*;

    use super::{BLOCK, FINE_GROUP, Q8Vector, blocks};

    #[inline(always)]
    fn hsum(v: v128) -> f32 {
        f32x4_extract_lane::<0>(v)
            + f32x4_extract_lane::<1>(v)
            + f32x4_extract_lane::<2>(v)
            + f32x4_extract_lane::<3>(v)
    }

    /// Σ w·x of one block: `w0..w3` the 32 weights as four i16x8, x at `xp`.
    /// Safety: `xp` points at 32 readable i16.
    #[inline(always)]
    unsafe fn block_dot(w: [v128; 4], xp: *const i16) -> v128 {
        unsafe {
            let x0 = v128_load(xp as *const v128);
            let x1 = v128_load(xp.add(8) as *const v128);
            let x2 = v128_load(xp.add(16) as *const v128);
            let x3 = v128_load(xp.add(24) as *const v128);
            i32x4_add(
                i32x4_add(i32x4_dot_i16x8(w[0], x0), i32x4_dot_i16x8(w[1], x1)),
                i32x4_add(i32x4_dot_i16x8(w[2], x2), i32x4_dot_i16x8(w[3], x3)),
            )
        }
    }

    /// The 32 nibbles of a 4-bit block as four u16x8 (elements 0-7, 8-15, 16-23, 24-31).
    /// Safety: `p` points at 16 readable bytes.
    #[inline(always)]
    unsafe fn nibbles(p: *const u8) -> [v128; 4] {
        unsafe {
            let v = v128_load(p as *const v128);
            let lo = v128_and(v, u8x16_splat(0x0f));
            let hi = u8x16_shr(v, 4);
            [
                u16x8_extend_low_u8x16(lo),
                u16x8_extend_high_u8x16(lo),
                u16x8_extend_low_u8x16(hi),
                u16x8_extend_high_u8x16(hi),
            ]
        }
    }

    pub fn q4_1(d: &[f32], m: &[f32], qs: &[u8], x: &Q8Vector) -> f32 {
        let n = blocks(d, qs.len(), 16, x).min(m.len());
        let mut acc = f32x4_splat(0.0);
        let mut offset = 0f32;
        for b in 0..n {
            // Safety: b < n, and n blocks of every slice are in bounds.
            let s = unsafe { block_dot(nibbles(qs.as_ptr().add(b * 16)), x.q.as_ptr().add(b * BLOCK)) };
            acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(s), f32x4_splat(d[b] * x.d[b])));
            offset += m[b] * x.sum[b];
        }
        hsum(acc) + offset
    }

    pub fn q4_0(d: &[f32], qs: &[u8], x: &Q8Vector) -> f32 {
        let n = blocks(d, qs.len(), 16, x);
        let mut acc = f32x4_splat(0.0);
        let mut offset = 0f32;
        for b in 0..n {
            // Safety: as q4_1.
            let s = unsafe { block_dot(nibbles(qs.as_ptr().add(b * 16)), x.q.as_ptr().add(b * BLOCK)) };
            acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(s), f32x4_splat(d[b] * x.d[b])));
            offset += d[b] * x.sum[b];
        }
        hsum(acc) - 8.0 * offset
    }

    /// The 32 signed bytes of an 8-bit block as four i16x8.
    /// Safety: `p` points at 32 readable bytes.
    #[inline(always)]
    unsafe fn widen_q8(p: *const i8) -> [v128; 4] {
        unsafe {
            let a = v128_load(p as *const v128);
            let c = v128_load(p.add(16) as *const v128);
            [
                i16x8_extend_low_i8x16(a),
                i16x8_extend_high_i8x16(a),
                i16x8_extend_low_i8x16(c),
                i16x8_extend_high_i8x16(c),
            ]
        }
    }

    pub fn q8_0(d: &[f32], qs: &[i8], x: &Q8Vector) -> f32 {
        let n = blocks(d, qs.len(), BLOCK, x);
        let mut acc = f32x4_splat(0.0);
        for b in 0..n {
            // Safety: as q4_1.
            let s = unsafe { block_dot(widen_q8(qs.as_ptr().add(b * BLOCK)), x.q.as_ptr().add(b * BLOCK)) };
            acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(s), f32x4_splat(d[b] * x.d[b])));
        }
        hsum(acc)
    }

    /// Four inputs against one row of 32-value blocks: `weights(b)` decodes
    /// block b once for the four. Per input, the same operations in the same
    /// order as the one-input kernels, so a batch equals its rows one by one.
    #[inline(always)]
    fn blocks_x4(n: usize, weights: impl Fn(usize) -> [v128; 4], d: &[f32], x: [&Q8Vector; 4]) -> [f32; 4] {
        let mut acc = [f32x4_splat(0.0); 4];
        for b in 0..n {
            let w = weights(b);
            for (acc, x) in acc.iter_mut().zip(x) {
                // Safety: the callers' n counts blocks in bounds of every input.
                let s = unsafe { block_dot(w, x.q.as_ptr().add(b * BLOCK)) };
                *acc = f32x4_add(*acc, f32x4_mul(f32x4_convert_i32x4(s), f32x4_splat(d[b] * x.d[b])));
            }
        }
        acc.map(hsum)
    }

    /// The fewest blocks all of `x` and the row hold.
    fn blocks_all(d: &[f32], quant_bytes: usize, per_block: usize, x: [&Q8Vector; 4]) -> usize {
        x.iter().map(|x| blocks(d, quant_bytes, per_block, x)).min().unwrap_or(0)
    }

    pub fn q4_1_x4(d: &[f32], m: &[f32], qs: &[u8], x: [&Q8Vector; 4]) -> [f32; 4] {
        let n = blocks_all(d, qs.len(), 16, x).min(m.len());
        // Safety: b < n blocks of 16 bytes.
        let dots = blocks_x4(n, |b| unsafe { nibbles(qs.as_ptr().add(b * 16)) }, d, x);
        let mut out = [0f32; 4];
        for ((o, dot), x) in out.iter_mut().zip(dots).zip(x) {
            *o = dot + (0..n).fold(0f32, |off, b| off + m[b] * x.sum[b]);
        }
        out
    }

    pub fn q4_0_x4(d: &[f32], qs: &[u8], x: [&Q8Vector; 4]) -> [f32; 4] {
        let n = blocks_all(d, qs.len(), 16, x);
        // Safety: b < n blocks of 16 bytes.
        let dots = blocks_x4(n, |b| unsafe { nibbles(qs.as_ptr().add(b * 16)) }, d, x);
        let mut out = [0f32; 4];
        for ((o, dot), x) in out.iter_mut().zip(dots).zip(x) {
            *o = dot - 8.0 * (0..n).fold(0f32, |off, b| off + d[b] * x.sum[b]);
        }
        out
    }

    pub fn q8_0_x4(d: &[f32], qs: &[i8], x: [&Q8Vector; 4]) -> [f32; 4] {
        let n = blocks_all(d, qs.len(), BLOCK, x);
        // Safety: b < n blocks of 32 bytes.
        blocks_x4(n, |b| unsafe { widen_q8(qs.as_ptr().add(b * BLOCK)) }, d, x)
    }

    /// A row of fine weights ([`super::FINE`], one scale per [`FINE_GROUP`])
    /// with one fine input.
    pub fn q12(d: &[f32], qs: &[i16], x: &Q8Vector) -> f32 {
        let n = d.len().min(qs.len() / FINE_GROUP).min(x.d.len()).min(x.q.len() / FINE_GROUP);
        let mut acc = f32x4_splat(0.0);
        for g in 0..n {
            let at = g * FINE_GROUP;
            // Safety: g < n, and n groups of every slice are in bounds.
            let s = unsafe {
                let (w, xq) = (qs.as_ptr().add(at), x.q.as_ptr().add(at));
                i32x4_add(block_dot(load4(w), xq), block_dot(load4(w.add(BLOCK)), xq.add(BLOCK)))
            };
            acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(s), f32x4_splat(d[g] * x.d[g])));
        }
        hsum(acc)
    }

    /// Four i16x8 from 32 i16. Safety: `p` points at 32 readable i16.
    #[inline(always)]
    unsafe fn load4(p: *const i16) -> [v128; 4] {
        unsafe { [0, 8, 16, 24].map(|at| v128_load(p.add(at) as *const v128)) }
    }

    /// One row of fine weights against four fine input rows: each weight
    /// block is loaded once for the four, and each group's integer sums are
    /// scaled once (the encoder's batched products).
    pub fn q12_x4(d: &[f32], qs: &[i16], x: [&Q8Vector; 4]) -> [f32; 4] {
        let n = x.iter().fold(d.len().min(qs.len() / FINE_GROUP), |n, v| n.min(v.d.len()).min(v.q.len() / FINE_GROUP));
        let mut acc = [f32x4_splat(0.0); 4];
        for g in 0..n {
            let at = g * FINE_GROUP;
            let mut sums = [i32x4_splat(0); 4];
            for half in [0, BLOCK] {
                // Safety: g < n, and n groups of every slice are in bounds.
                let w = unsafe { load4(qs.as_ptr().add(at + half)) };
                for (s, x) in sums.iter_mut().zip(x) {
                    *s = i32x4_add(*s, unsafe { block_dot(w, x.q.as_ptr().add(at + half)) });
                }
            }
            for ((acc, s), x) in acc.iter_mut().zip(sums).zip(x) {
                *acc = f32x4_add(*acc, f32x4_mul(f32x4_convert_i32x4(s), f32x4_splat(d[g] * x.d[g])));
            }
        }
        acc.map(hsum)
    }

    pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (mut s0, mut s1) = (f32x4_splat(0.0), f32x4_splat(0.0));
        let mut i = 0;
        while i + 8 <= n {
            // Safety: i + 8 <= n.
            unsafe {
                let (pa, pb) = (a.as_ptr().add(i), b.as_ptr().add(i));
                s0 = f32x4_add(s0, f32x4_mul(v128_load(pa as *const v128), v128_load(pb as *const v128)));
                s1 = f32x4_add(s1, f32x4_mul(v128_load(pa.add(4) as *const v128), v128_load(pb.add(4) as *const v128)));
            }
            i += 8;
        }
        let mut s = hsum(f32x4_add(s0, s1));
        for j in i..n {
            s += a[j] * b[j];
        }
        s
    }

    pub fn add_scaled(y: &mut [f32], a: f32, x: &[f32]) {
        let n = y.len().min(x.len());
        let va = f32x4_splat(a);
        let mut i = 0;
        while i + 4 <= n {
            // Safety: i + 4 <= n.
            unsafe {
                let py = y.as_mut_ptr().add(i);
                let v =
                    f32x4_add(v128_load(py as *const v128), f32x4_mul(va, v128_load(x.as_ptr().add(i) as *const v128)));
                v128_store(py as *mut v128, v);
            }
            i += 4;
        }
        for j in i..n {
            y[j] += a * x[j];
        }
    }
}

/// The kernels as plain loops: everywhere else, and the yardstick of [`simd`].
pub mod portable {
    use super::{BLOCK, FINE_GROUP, Q8Vector, blocks};

    fn nibble_block_sum(qs: &[u8], xq: &[i16]) -> i32 {
        let mut s = 0i32;
        for j in 0..16 {
            s += i32::from(qs[j] & 15) * i32::from(xq[j]) + i32::from(qs[j] >> 4) * i32::from(xq[j + 16]);
        }
        s
    }

    pub fn q4_1(d: &[f32], m: &[f32], qs: &[u8], x: &Q8Vector) -> f32 {
        let n = blocks(d, qs.len(), 16, x).min(m.len());
        let (mut acc, mut offset) = (0f32, 0f32);
        for b in 0..n {
            let s = nibble_block_sum(&qs[b * 16..b * 16 + 16], &x.q[b * BLOCK..(b + 1) * BLOCK]);
            acc += s as f32 * (d[b] * x.d[b]);
            offset += m[b] * x.sum[b];
        }
        acc + offset
    }

    pub fn q4_0(d: &[f32], qs: &[u8], x: &Q8Vector) -> f32 {
        let n = blocks(d, qs.len(), 16, x);
        let (mut acc, mut offset) = (0f32, 0f32);
        for b in 0..n {
            let s = nibble_block_sum(&qs[b * 16..b * 16 + 16], &x.q[b * BLOCK..(b + 1) * BLOCK]);
            acc += s as f32 * (d[b] * x.d[b]);
            offset += d[b] * x.sum[b];
        }
        acc - 8.0 * offset
    }

    pub fn q8_0(d: &[f32], qs: &[i8], x: &Q8Vector) -> f32 {
        let n = blocks(d, qs.len(), BLOCK, x);
        let mut acc = 0f32;
        for b in 0..n {
            let w = &qs[b * BLOCK..(b + 1) * BLOCK];
            let xq = &x.q[b * BLOCK..(b + 1) * BLOCK];
            let s: i32 = w.iter().zip(xq).map(|(&w, &x)| i32::from(w) * i32::from(x)).sum();
            acc += s as f32 * (d[b] * x.d[b]);
        }
        acc
    }

    pub fn q4_1_x4(d: &[f32], m: &[f32], qs: &[u8], x: [&Q8Vector; 4]) -> [f32; 4] {
        x.map(|x| q4_1(d, m, qs, x))
    }

    pub fn q4_0_x4(d: &[f32], qs: &[u8], x: [&Q8Vector; 4]) -> [f32; 4] {
        x.map(|x| q4_0(d, qs, x))
    }

    pub fn q8_0_x4(d: &[f32], qs: &[i8], x: [&Q8Vector; 4]) -> [f32; 4] {
        x.map(|x| q8_0(d, qs, x))
    }

    pub fn q12(d: &[f32], qs: &[i16], x: &Q8Vector) -> f32 {
        let groups = qs.chunks_exact(FINE_GROUP).zip(x.q.chunks_exact(FINE_GROUP));
        let mut acc = 0f32;
        for ((w, xq), (&dw, &dx)) in groups.zip(d.iter().zip(&x.d)) {
            let s: i32 = w.iter().zip(xq).map(|(&w, &x)| i32::from(w) * i32::from(x)).sum();
            acc += s as f32 * (dw * dx);
        }
        acc
    }

    pub fn q12_x4(d: &[f32], qs: &[i16], x: [&Q8Vector; 4]) -> [f32; 4] {
        x.map(|x| q12(d, qs, x))
    }

    pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        // Eight partial sums: independent chains the compiler can keep in vector registers.
        let mut s = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for j in 0..8 {
                s[j] += x[j] * y[j];
            }
        }
        let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
        s.iter().sum::<f32>() + tail
    }

    pub fn add_scaled(y: &mut [f32], a: f32, x: &[f32]) {
        y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub use portable::{add_scaled, dot_f32, q4_0, q4_0_x4, q4_1, q4_1_x4, q8_0, q8_0_x4, q12, q12_x4};
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use simd::{add_scaled, dot_f32, q4_0, q4_0_x4, q4_1, q4_1_x4, q8_0, q8_0_x4, q12, q12_x4};

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    #[test]
    fn quantized_vector_is_within_half_a_step() {
        let mut seed = 7;
        let x: Vec<f32> = (0..96).map(|_| lcg(&mut seed) * 3.0).collect();
        let v = Q8Vector::from_values(&x);
        for (i, &xi) in x.iter().enumerate() {
            let b = i / BLOCK;
            assert!((v.d[b] * f32::from(v.q[i]) - xi).abs() <= v.d[b] * 0.5 + 1e-6);
        }
        let zero = Q8Vector::from_values(&[0.0; 32]);
        assert_eq!((zero.d[0], zero.q[5]), (0.0, 0));
    }

    #[test]
    fn f32_dot_and_axpy() {
        let a: Vec<f32> = (0..21).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..21).map(|i| 1.0 - i as f32 * 0.1).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot_f32(&a, &b) - want).abs() < 1e-3);
        let mut y = b.clone();
        add_scaled(&mut y, 2.0, &a);
        assert!(y.iter().zip(&a).zip(&b).all(|((y, a), b)| (y - (b + 2.0 * a)).abs() < 1e-5));
    }
}
