//! navaja-core's CPU kernels ([`navaja_core::cpu::dot`]) as compiled for the
//! browser, checked against their portable loops on random data, inside
//! WebAssembly: `scripts/test.sh` builds this crate to a bare `.wasm` with
//! `simd128` (as scripts/build-web.sh builds the engine), and
//! `tests/wasm_kernels.test.mjs` calls its exports in node. Native test runs
//! compare the portable loops with themselves, which only checks this file.

use navaja_core::cpu::dot::{self, BLOCK, Q8Vector, portable};

/// A small deterministic generator (no dependencies in the .wasm).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() % (1 << 24)) as f32 / (1 << 23) as f32 - 1.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// The comparisons: (worst error relative to the sum of |terms|, mismatches).
#[derive(Default)]
struct Tally {
    worst: f32,
    mismatches: u32,
}

impl Tally {
    /// `a` and `b` should agree up to f32 rounding of sums whose terms add up to `scale`.
    fn compare(&mut self, a: f32, b: f32, scale: f32) {
        let err = (a - b).abs() / scale.max(f32::MIN_POSITIVE);
        self.worst = self.worst.max(err);
        #[allow(clippy::neg_cmp_op_on_partial_ord)] // a NaN must count as a mismatch
        if !(err <= 1e-5) {
            self.mismatches += 1;
        }
    }
}

impl Tally {
    /// `a` and `b` must be the same number, bit for bit.
    fn exact(&mut self, a: f32, b: f32) {
        if a.to_bits() != b.to_bits() {
            self.mismatches += 1;
        }
    }
}

fn run() -> Tally {
    let mut rng = Lcg(0x6e61_76616a61);
    let mut t = Tally::default();
    for blocks in [1usize, 2, 3, 7, 18, 48] {
        let n = blocks * BLOCK;
        for _ in 0..8 {
            let x: Vec<f32> = (0..n).map(|_| rng.unit() * 4.0).collect();
            let xq = Q8Vector::from_values(&x);
            let d: Vec<f32> = (0..blocks).map(|_| rng.unit() * 0.05).collect();
            let m: Vec<f32> = (0..blocks).map(|_| rng.unit() * 0.1).collect();
            let nibbles = rng.bytes(blocks * 16);
            let signed: Vec<i8> = rng.bytes(n).into_iter().map(|b| b as i8).collect();
            // Σ |d_w d_x| · 15 · 127 per value bounds every term of a 4-bit row, 128 · 127 of an 8-bit one.
            let scale4: f32 =
                (0..blocks).map(|b| (d[b] * xq.d[b]).abs() * 15.0 * 127.0 * 32.0 + (m[b] * xq.sum[b]).abs()).sum();
            let scale8: f32 = (0..blocks).map(|b| (d[b] * xq.d[b]).abs() * 128.0 * 127.0 * 32.0).sum();
            t.compare(dot::q4_1(&d, &m, &nibbles, &xq), portable::q4_1(&d, &m, &nibbles, &xq), scale4);
            t.compare(dot::q4_0(&d, &nibbles, &xq), portable::q4_0(&d, &nibbles, &xq), scale4);
            t.compare(dot::q8_0(&d, &signed, &xq), portable::q8_0(&d, &signed, &xq), scale8);
            // A prompt's four-token products must equal the one-token ones exactly
            // (chunked prefill gives the logits of token-by-token feeding).
            let others: Vec<Q8Vector> =
                (0..3).map(|_| Q8Vector::from_values(&(0..n).map(|_| rng.unit() * 2.0).collect::<Vec<_>>())).collect();
            let four = [&xq, &others[0], &others[1], &others[2]];
            let x4 = [
                dot::q4_1_x4(&d, &m, &nibbles, four),
                dot::q4_0_x4(&d, &nibbles, four),
                dot::q8_0_x4(&d, &signed, four),
            ];
            for (j, x) in four.into_iter().enumerate() {
                t.exact(x4[0][j], dot::q4_1(&d, &m, &nibbles, x));
                t.exact(x4[1][j], dot::q4_0(&d, &nibbles, x));
                t.exact(x4[2][j], dot::q8_0(&d, &signed, x));
            }
            // The encoder's fine products (12 bits, one scale per group of 64): four inputs against a row, and one.
            if n.is_multiple_of(dot::FINE_GROUP) {
                let groups = n / dot::FINE_GROUP;
                let fine = |v: &[f32]| {
                    let mut q = Q8Vector::default();
                    q.quantize_fine(v);
                    q
                };
                let wide: Vec<i16> = (0..n).map(|_| (rng.next() % 4095) as i16 - 2047).collect();
                let inputs: Vec<Q8Vector> =
                    (0..4).map(|_| fine(&(0..n).map(|_| rng.unit() * 2.0).collect::<Vec<_>>())).collect();
                let four = [&inputs[0], &inputs[1], &inputs[2], &inputs[3]];
                for (got, x) in dot::q12_x4(&d[..groups], &wide, four).into_iter().zip(four) {
                    let scale: f32 = (0..groups).map(|g| (d[g] * x.d[g]).abs() * 2048.0 * 2047.0 * 64.0).sum();
                    t.compare(got, portable::q12(&d[..groups], &wide, x), scale);
                    t.compare(dot::q12(&d[..groups], &wide, x), portable::q12(&d[..groups], &wide, x), scale);
                }
            }
        }
    }
    // Quantizing activations (what LLVM may vectorize in this build) against
    // one value at a time, with ties (k + 0.5 steps) that round away from zero.
    for case in 0..64 {
        let x: Vec<f32> = (0..BLOCK)
            .map(|i| match (case + i) % 3 {
                0 => rng.unit() * 3.0,
                1 => (i as f32 - 16.0 + 0.5) / 127.0 * 3.0,
                _ => 3.0 * if i % 2 == 0 { 1.0 } else { -1.0 },
            })
            .collect();
        let (d, q) = dot::quantize_block(&x);
        let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
        t.compare(d, amax / 127.0, amax / 127.0);
        let inv = 127.0 / amax;
        for (i, &v) in x.iter().enumerate() {
            let want = core::hint::black_box(core::hint::black_box(v) * inv).round().clamp(-127.0, 127.0) as i16;
            if q[i] != want {
                t.mismatches += 1;
            }
        }
    }
    for len in 1..=70 {
        let a: Vec<f32> = (0..len).map(|_| rng.unit()).collect();
        let b: Vec<f32> = (0..len).map(|_| rng.unit()).collect();
        let scale: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
        t.compare(dot::dot_f32(&a, &b), portable::dot_f32(&a, &b), scale);
        let (mut y1, mut y2) = (b.clone(), b.clone());
        dot::add_scaled(&mut y1, 0.75, &a);
        portable::add_scaled(&mut y2, 0.75, &a);
        for (p, q) in y1.iter().zip(&y2) {
            t.compare(*p, *q, 1.0);
        }
    }
    t
}

/// How many kernel results differ from the portable loops' beyond f32 rounding.
#[unsafe(no_mangle)]
pub extern "C" fn navaja_kernel_mismatches() -> u32 {
    run().mismatches
}

/// The largest difference seen, relative to the sum of the magnitudes of its terms.
#[unsafe(no_mangle)]
pub extern "C" fn navaja_kernel_worst_error() -> f32 {
    run().worst
}

/// 1 when this build runs the SIMD kernels (wasm32 with simd128), else 0.
#[unsafe(no_mangle)]
pub extern "C" fn navaja_kernel_simd() -> u32 {
    u32::from(cfg!(all(target_arch = "wasm32", target_feature = "simd128")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_check_runs() {
        assert_eq!(super::navaja_kernel_mismatches(), 0);
        assert_eq!(super::navaja_kernel_simd(), 0);
    }
}
