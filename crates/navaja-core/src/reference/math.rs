//! The arithmetic of the reference forward pass: matrix products, RoPE,
//! activations and attention, each with f64 accumulation.
//!
//! The loops are written for a debug build as much as for an optimised one
//! (the tests that use this oracle run unoptimised): plain indexing with four
//! independent accumulators, and rows split over a few threads.

use std::thread;

use crate::model::RopeOrdering;

/// Work (multiply-adds) below which a product stays on the calling thread.
const THREAD_MIN_WORK: usize = 1 << 18;
/// The reference is a test oracle that shares the machine with other tests:
/// it uses at most this many threads.
const MAX_THREADS: usize = 2;

/// `Σ a[i] * b[i]` in f64 (products exact, four partial sums). `as` casts
/// rather than `f64::from`: in a debug build the latter is a function call.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (mut s0, mut s1, mut s2, mut s3) = (0f64, 0f64, 0f64, 0f64);
    let mut i = 0;
    while i + 4 <= n {
        s0 += a[i] as f64 * b[i] as f64;
        s1 += a[i + 1] as f64 * b[i + 1] as f64;
        s2 += a[i + 2] as f64 * b[i + 2] as f64;
        s3 += a[i + 3] as f64 * b[i + 3] as f64;
        i += 4;
    }
    while i < n {
        s0 += a[i] as f64 * b[i] as f64;
        i += 1;
    }
    (s0 + s1) + (s2 + s3)
}

/// Four rows of `w` (each `x.len()` long) against `x`: every `x[i]` is read
/// once for four products, a third faster than four [`dot`]s in a debug build.
fn dot4(w: [&[f32]; 4], x: &[f32]) -> [f64; 4] {
    let n = x.len();
    let (w0, w1, w2, w3) = (&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]);
    let (mut s0, mut s1, mut s2, mut s3) = (0f64, 0f64, 0f64, 0f64);
    let mut i = 0;
    while i < n {
        let xi = x[i] as f64;
        s0 += w0[i] as f64 * xi;
        s1 += w1[i] as f64 * xi;
        s2 += w2[i] as f64 * xi;
        s3 += w3[i] as f64 * xi;
        i += 1;
    }
    [s0, s1, s2, s3]
}

/// A row-major matrix: `rows` rows of `cols` values (a GGUF tensor with
/// dims `[cols, rows]`, as PyTorch's `[out, in]` weight).
#[derive(Debug, Clone)]
pub(crate) struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    /// `x` holds `n` inputs of `cols` values; returns the `n` outputs of
    /// `rows` values, `y[t][r] = W[r] · x[t] (+ bias[r])`, token-major.
    pub fn apply(&self, x: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let n = x.len() / self.cols;
        let threads = if self.rows * self.cols * n >= THREAD_MIN_WORK {
            thread::available_parallelism().map_or(1, |p| p.get()).min(MAX_THREADS)
        } else {
            1
        };
        let mut out = vec![0f32; n * self.rows];
        if threads <= 1 {
            self.rows_into(0..self.rows, x, bias, &mut out, self.rows);
            return out;
        }
        // Each thread computes a band of rows for every input, into its own buffer.
        let band = self.rows.div_ceil(threads);
        let parts: Vec<(usize, Vec<f32>)> = thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|i| (i * band).min(self.rows)..((i + 1) * band).min(self.rows))
                .map(|rows| {
                    s.spawn(move || {
                        let mut part = vec![0f32; n * rows.len()];
                        let width = rows.len();
                        self.rows_into(rows.clone(), x, bias, &mut part, width);
                        (rows.start, part)
                    })
                })
                .collect();
            // A panic in a worker is a bug here; propagate it as such.
            handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
        for (start, part) in parts {
            let width = part.len() / n.max(1);
            for t in 0..n {
                out[t * self.rows + start..t * self.rows + start + width]
                    .copy_from_slice(&part[t * width..(t + 1) * width]);
            }
        }
        out
    }

    /// Rows `rows` of the product into `out` (stride `stride` per input, row r at r - rows.start).
    fn rows_into(&self, rows: std::ops::Range<usize>, x: &[f32], bias: Option<&[f32]>, out: &mut [f32], stride: usize) {
        let start = rows.start;
        let b = |r: usize| bias.map_or(0.0, |b| b[r] as f64);
        let mut r = rows.start;
        while r + 4 <= rows.end {
            let w = [self.row(r), self.row(r + 1), self.row(r + 2), self.row(r + 3)];
            for (t, xt) in x.chunks_exact(self.cols).enumerate() {
                for (j, s) in dot4(w, xt).into_iter().enumerate() {
                    out[t * stride + r + j - start] = (s + b(r + j)) as f32;
                }
            }
            r += 4;
        }
        for r in r..rows.end {
            for (t, xt) in x.chunks_exact(self.cols).enumerate() {
                out[t * stride + r - start] = (dot(self.row(r), xt) + b(r)) as f32;
            }
        }
    }
}

/// RoPE of one layer: the angle of pair `i` at position `p` is `p * inv_freq[i]`.
#[derive(Debug, Clone)]
pub(crate) struct Rope {
    pub ordering: RopeOrdering,
    /// Rotated values per head (the first `dims`; the rest pass through).
    pub dims: usize,
    /// `freq_scale * base^(-2i/dims) / factor[i]` for each of the `dims / 2` pairs.
    pub inv_freq: Vec<f64>,
}

impl Rope {
    pub fn new(ordering: RopeOrdering, dims: usize, base: f32, freq_scale: f64, factors: Option<&[f32]>) -> Rope {
        let inv_freq = (0..dims / 2)
            .map(|i| {
                let f = f64::from(base).powf(-((2 * i) as f64) / dims as f64) * freq_scale;
                factors.map_or(f, |fs| f / f64::from(fs[i]))
            })
            .collect();
        Rope { ordering, dims, inv_freq }
    }

    /// Rotates every head of `x` (heads of `head_dim` values) for position `pos`.
    pub fn apply(&self, x: &mut [f32], head_dim: usize, pos: usize) {
        let half = self.dims / 2;
        for head in x.chunks_exact_mut(head_dim) {
            for (i, &f) in self.inv_freq.iter().enumerate() {
                let (sin, cos) = (pos as f64 * f).sin_cos();
                // Normal: adjacent pairs (2i, 2i+1); NeoX: (i, i + dims/2).
                let (a, b) = match self.ordering {
                    RopeOrdering::Normal => (2 * i, 2 * i + 1),
                    RopeOrdering::Neox => (i, i + half),
                };
                let (x0, x1) = (f64::from(head[a]), f64::from(head[b]));
                head[a] = (x0 * cos - x1 * sin) as f32;
                head[b] = (x0 * sin + x1 * cos) as f32;
            }
        }
    }
}

/// x * sigmoid(x)
pub(crate) fn silu(x: f32) -> f64 {
    let x = f64::from(x);
    x / (1.0 + (-x).exp())
}

/// GELU, tanh approximation (PyTorch's `gelu(approximate="tanh")`, ggml's `gelu`).
pub(crate) fn gelu_tanh(x: f32) -> f64 {
    let x = f64::from(x);
    let sqrt_2_over_pi = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (sqrt_2_over_pi * (x + 0.044715 * x * x * x)).tanh())
}

/// The positions `pos` attends to: all earlier ones (and itself), or with a
/// sliding window of `window` only the last `window` of them (llama.cpp's
/// standard SWA: key `j` is masked when `pos - j >= window`).
pub(crate) fn visible(pos: usize, window: Option<usize>) -> std::ops::Range<usize> {
    let lo = window.map_or(0, |w| (pos + 1).saturating_sub(w));
    lo..pos + 1
}

/// [`visible`] plus, below the window, the first `sink` positions (attention sinks).
pub(crate) fn visible_with_sink(pos: usize, window: Option<usize>, sink: usize) -> Vec<usize> {
    let window = visible(pos, window);
    (0..sink.min(window.start)).chain(window).collect()
}

/// One query head against the cached keys and values of positions `keys`
/// (`k`, `v`: rows of `stride` values, this head's slice starting at
/// `offset`): softmax(scale · q·k) · v, all in f64.
pub(crate) struct HeadAttention<'a> {
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub stride: usize,
    pub offset: usize,
    pub head_dim: usize,
    pub scale: f64,
}

impl HeadAttention<'_> {
    /// Where this head's values for position `j` lie in the cache rows.
    fn span(&self, j: usize) -> std::ops::Range<usize> {
        let start = j * self.stride + self.offset;
        start..start + self.head_dim
    }

    pub fn run(&self, q: &[f32], keys: impl Iterator<Item = usize> + Clone, out: &mut [f32]) {
        let d = self.head_dim;
        let scores: Vec<f64> = keys.clone().map(|j| dot(q, &self.k[self.span(j)]) * self.scale).collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = vec![0f64; d];
        for (j, w) in keys.zip(&weights) {
            for (a, &v) in acc.iter_mut().zip(&self.v[self.span(j)]) {
                *a += w * f64::from(v);
            }
        }
        for (o, a) in out.iter_mut().zip(acc) {
            *o = (a / total) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_product_threads_agree() {
        let (rows, cols, n) = (301, 257, 5);
        let m = Matrix { rows, cols, data: (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect() };
        let x: Vec<f32> = (0..n * cols).map(|i| ((i * 13 % 29) as f32 - 14.0) / 14.0).collect();
        let bias: Vec<f32> = (0..rows).map(|r| r as f32 * 0.01).collect();
        let y = m.apply(&x, Some(&bias)); // above THREAD_MIN_WORK: threaded where possible
        for t in 0..n {
            for r in 0..rows {
                let want: f64 = (0..cols).map(|c| f64::from(m.row(r)[c]) * f64::from(x[t * cols + c])).sum::<f64>()
                    + f64::from(bias[r]);
                assert!((f64::from(y[t * rows + r]) - want).abs() < 1e-5, "t {t} r {r}");
            }
        }
    }

    #[test]
    fn rope_orderings() {
        // One head of 4 values, position 1, base chosen so the angles are 1 and 0.01.
        let rope = Rope::new(RopeOrdering::Normal, 4, 10_000.0, 1.0, None);
        assert!((rope.inv_freq[1] - 0.01).abs() < 1e-12);
        let mut x = [1.0f32, 0.0, 1.0, 0.0];
        rope.apply(&mut x, 4, 1);
        assert!((x[0] - 1f32.cos()).abs() < 1e-6 && (x[1] - 1f32.sin()).abs() < 1e-6);
        assert!((x[2] - 0.01f32.cos()).abs() < 1e-6 && (x[3] - 0.01f32.sin()).abs() < 1e-6);
        let neox = Rope::new(RopeOrdering::Neox, 4, 10_000.0, 1.0, None);
        let mut x = [1.0f32, 1.0, 0.0, 0.0];
        neox.apply(&mut x, 4, 1);
        assert!((x[0] - 1f32.cos()).abs() < 1e-6 && (x[2] - 1f32.sin()).abs() < 1e-6);
        assert!((x[1] - 0.01f32.cos()).abs() < 1e-6 && (x[3] - 0.01f32.sin()).abs() < 1e-6);
        // Frequency factors divide, freq_scale multiplies, partial rotation leaves the tail.
        let r = Rope::new(RopeOrdering::Neox, 2, 10_000.0, 0.5, Some(&[4.0]));
        assert_eq!(r.inv_freq, vec![0.125]);
        let mut x = [1.0f32, 0.0, 7.0, 8.0];
        r.apply(&mut x, 4, 8);
        assert!((x[0] - 1f32.cos()).abs() < 1e-6 && (x[1] - 1f32.sin()).abs() < 1e-6);
        assert_eq!(&x[2..], &[7.0, 8.0]);
    }

    #[test]
    fn activations() {
        assert!((silu(1.0) - 1.0 / (1.0 + (-1f64).exp())).abs() < 1e-15);
        assert_eq!(gelu_tanh(0.0), 0.0);
        assert!((gelu_tanh(1.0) - 0.841_191_990_608_276_8).abs() < 1e-12);
        assert!((gelu_tanh(-3.0) + 0.003_637_392_081_772_994).abs() < 1e-12);
    }

    #[test]
    fn sliding_window_range() {
        assert_eq!(visible(5, None), 0..6);
        assert_eq!(visible(5, Some(3)), 3..6);
        assert_eq!(visible(1, Some(3)), 0..2);
        assert_eq!(visible(0, Some(1)), 0..1);
    }

    #[test]
    fn attention_weights_values() {
        // Two positions, head_dim 1: scores 0 and ln 3 -> weights 1/4 and 3/4.
        let k = [0.0f32, 3f32.ln()];
        let v = [4.0f32, 8.0];
        let a = HeadAttention { k: &k, v: &v, stride: 1, offset: 0, head_dim: 1, scale: 1.0 };
        let mut out = [0.0f32];
        a.run(&[1.0], 0..2, &mut out);
        assert!((out[0] - 7.0).abs() < 1e-6);
        a.run(&[1.0], 1..2, &mut out);
        assert!((out[0] - 8.0).abs() < 1e-6);
    }
}
