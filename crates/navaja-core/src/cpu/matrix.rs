//! [`QuantMatrix`]: a weight matrix kept quantized in memory, its blocks
//! split into planes (scales apart from quants) so that the dot-product
//! kernels load 16 aligned bytes at a time.
//!
//! Q4_0, Q4_1 and Q8_0 keep their own values exactly. Every other type
//! (F32, F16, BF16, Q5_*, the K-quants) is dequantized row by row and
//! requantized to Q8_0: 8.5 bits per weight, whose rounding (at most half a
//! step of 1/127 of the block's largest value) is far below the source
//! types' own except for F32/F16, where it is what any 8-bit engine pays.

use super::dot::{self, Q8Vector};
use crate::quant::dequant::dequantize;
use crate::quant::types::GgmlType;
use crate::{NavajaError, Result};

/// Elements per block of every kept format.
pub const BLOCK: usize = 32;

/// Inputs per tile of [`QuantMatrix::matmul`]: 32 rows of 1,536 values are
/// 96 KiB of i16 quants, about what a core's L2 keeps beside the weight row.
const TILE: usize = 32;

/// The quantized values of a matrix, block-major within each row.
#[derive(Debug, Clone)]
pub(crate) enum Planes {
    /// `d * (q - 8)`, two 4-bit values per byte (element j low nibble, j + 16 high).
    Q4_0 { d: Vec<f32>, qs: Vec<u8> },
    /// `d * q + m`, nibbles as Q4_0.
    Q4_1 { d: Vec<f32>, m: Vec<f32>, qs: Vec<u8> },
    /// `d * q`, one signed byte per value.
    Q8_0 { d: Vec<f32>, qs: Vec<i8> },
    /// `d * q` with 12-bit quants ([`dot::FINE`]) in i16, one scale per
    /// [`dot::FINE_GROUP`] values: the encoder's weights, from f32 or f16
    /// checkpoints where 8 bits lose too much.
    Q12 { d: Vec<f32>, qs: Vec<i16> },
}

/// `rows` rows of `cols` values (a GGUF tensor of dims `[cols, rows]`).
#[derive(Debug, Clone)]
pub(crate) struct QuantMatrix {
    pub rows: usize,
    pub cols: usize,
    pub planes: Planes,
}

impl QuantMatrix {
    /// From a tensor's bytes as the GGUF file stores them.
    pub fn from_ggml(ty: GgmlType, rows: usize, cols: usize, bytes: &[u8]) -> Result<QuantMatrix> {
        if cols == 0 || !cols.is_multiple_of(BLOCK) {
            return Err(NavajaError::unsupported(format!(
                "the CPU backend needs rows of a multiple of {BLOCK} values, not {cols}"
            )));
        }
        let blocks = rows * cols / BLOCK;
        let expect = ty.bytes_for((rows * cols) as u64);
        if expect != Some(bytes.len() as u64) {
            return Err(NavajaError::format(format!(
                "a {ty} tensor of {rows}x{cols} needs {expect:?} bytes, the file has {}",
                bytes.len()
            )));
        }
        let f16 = |b: &[u8], at: usize| half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32();
        let planes = match ty {
            GgmlType::Q4_0 => {
                let (mut d, mut qs) = (Vec::with_capacity(blocks), Vec::with_capacity(blocks * 16));
                for b in bytes.chunks_exact(18) {
                    d.push(f16(b, 0));
                    qs.extend_from_slice(&b[2..18]);
                }
                Planes::Q4_0 { d, qs }
            }
            GgmlType::Q4_1 => {
                let (mut d, mut m, mut qs) =
                    (Vec::with_capacity(blocks), Vec::with_capacity(blocks), Vec::with_capacity(blocks * 16));
                for b in bytes.chunks_exact(20) {
                    d.push(f16(b, 0));
                    m.push(f16(b, 2));
                    qs.extend_from_slice(&b[4..20]);
                }
                Planes::Q4_1 { d, m, qs }
            }
            GgmlType::Q8_0 => {
                let (mut d, mut qs) = (Vec::with_capacity(blocks), Vec::with_capacity(blocks * BLOCK));
                for b in bytes.chunks_exact(34) {
                    d.push(f16(b, 0));
                    qs.extend(b[2..34].iter().map(|&q| q as i8));
                }
                Planes::Q8_0 { d, qs }
            }
            other => requantize_q8_0(other, rows, cols, bytes)?,
        };
        Ok(QuantMatrix { rows, cols, planes })
    }

    /// `rows` rows of `cols` f32 values (row-major), quantized to fine
    /// 12-bit groups ([`dot::FINE_GROUP`] values per scale).
    pub fn q12_from_f32(rows: usize, cols: usize, values: &[f32]) -> Result<QuantMatrix> {
        if cols == 0 || !cols.is_multiple_of(dot::FINE_GROUP) || values.len() != rows * cols {
            return Err(NavajaError::unsupported(format!(
                "the CPU backend's encoder needs rows of a multiple of {} values: {} values as {rows}x{cols}",
                dot::FINE_GROUP,
                values.len()
            )));
        }
        let (mut d, mut qs) = (Vec::with_capacity(values.len() / dot::FINE_GROUP), Vec::with_capacity(values.len()));
        for group in values.chunks_exact(dot::FINE_GROUP) {
            d.push(dot::quantize_fine_group(group, &mut qs));
        }
        Ok(QuantMatrix { rows, cols, planes: Planes::Q12 { d, qs } })
    }

    /// Bytes the matrix takes in memory.
    pub fn bytes(&self) -> usize {
        match &self.planes {
            Planes::Q4_0 { d, qs } => d.len() * 4 + qs.len(),
            Planes::Q4_1 { d, m, qs } => (d.len() + m.len()) * 4 + qs.len(),
            Planes::Q8_0 { d, qs } => d.len() * 4 + qs.len(),
            Planes::Q12 { d, qs } => d.len() * 4 + qs.len() * 2,
        }
    }

    /// Row `r`, dequantized into `out` (`cols` values): embedding lookups.
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        let bpr = self.cols / BLOCK;
        for (i, chunk) in out[..self.cols].chunks_exact_mut(BLOCK).enumerate() {
            let b = r * bpr + i;
            match &self.planes {
                Planes::Q4_0 { d, qs } => {
                    for (j, &q) in qs[b * 16..b * 16 + 16].iter().enumerate() {
                        chunk[j] = d[b] * (i32::from(q & 15) - 8) as f32;
                        chunk[j + 16] = d[b] * (i32::from(q >> 4) - 8) as f32;
                    }
                }
                Planes::Q4_1 { d, m, qs } => {
                    for (j, &q) in qs[b * 16..b * 16 + 16].iter().enumerate() {
                        chunk[j] = d[b] * f32::from(q & 15) + m[b];
                        chunk[j + 16] = d[b] * f32::from(q >> 4) + m[b];
                    }
                }
                Planes::Q8_0 { d, qs } => {
                    for (v, &q) in chunk.iter_mut().zip(&qs[b * BLOCK..(b + 1) * BLOCK]) {
                        *v = d[b] * f32::from(q);
                    }
                }
                Planes::Q12 { d, qs } => {
                    // A group spans two blocks.
                    let scale = d[b * BLOCK / dot::FINE_GROUP];
                    for (v, &q) in chunk.iter_mut().zip(&qs[b * BLOCK..(b + 1) * BLOCK]) {
                        *v = scale * f32::from(q);
                    }
                }
            }
        }
    }

    /// Row `r` · `x`.
    fn row_dot(&self, r: usize, x: &Q8Vector) -> f32 {
        let bpr = self.cols / BLOCK;
        let blocks = r * bpr..(r + 1) * bpr;
        let (q4, q8) = (blocks.start * 16..blocks.end * 16, blocks.start * BLOCK..blocks.end * BLOCK);
        match &self.planes {
            Planes::Q4_0 { d, qs } => dot::q4_0(&d[blocks], &qs[q4], x),
            Planes::Q4_1 { d, m, qs } => dot::q4_1(&d[blocks.clone()], &m[blocks], &qs[q4], x),
            Planes::Q8_0 { d, qs } => dot::q8_0(&d[blocks], &qs[q8], x),
            Planes::Q12 { d, qs } => dot::q12(&d[self.groups(r)], &qs[r * self.cols..(r + 1) * self.cols], x),
        }
    }

    /// Row `r` against four inputs at once: the row's blocks are decoded once for the four.
    fn row_dot_x4(&self, r: usize, x: [&Q8Vector; 4]) -> [f32; 4] {
        let bpr = self.cols / BLOCK;
        let blocks = r * bpr..(r + 1) * bpr;
        let (q4, q8) = (blocks.start * 16..blocks.end * 16, blocks.start * BLOCK..blocks.end * BLOCK);
        match &self.planes {
            Planes::Q4_0 { d, qs } => dot::q4_0_x4(&d[blocks], &qs[q4], x),
            Planes::Q4_1 { d, m, qs } => dot::q4_1_x4(&d[blocks.clone()], &m[blocks], &qs[q4], x),
            Planes::Q8_0 { d, qs } => dot::q8_0_x4(&d[blocks], &qs[q8], x),
            Planes::Q12 { d, qs } => dot::q12_x4(&d[self.groups(r)], &qs[r * self.cols..(r + 1) * self.cols], x),
        }
    }

    /// The scales of row `r` of a [`Planes::Q12`] matrix.
    fn groups(&self, r: usize) -> std::ops::Range<usize> {
        let per_row = self.cols / dot::FINE_GROUP;
        r * per_row..(r + 1) * per_row
    }

    /// `out[r - rows.start] = row r · x` for the rows in `rows`.
    pub fn matvec_rows(&self, x: &Q8Vector, rows: std::ops::Range<usize>, out: &mut [f32]) {
        for (o, r) in out.iter_mut().zip(rows) {
            *o = self.row_dot(r, x);
        }
    }

    /// `W x` for one input vector.
    pub fn matvec(&self, x: &Q8Vector, out: &mut [f32]) {
        self.matvec_rows(x, 0..self.rows, &mut out[..self.rows]);
    }

    /// `out[i * rows + r] = row r · xs[i]`: the product of a batch of inputs
    /// (`out` holds `xs.len() * rows`), equal to one [`QuantMatrix::matvec`]
    /// per input. Each row takes the inputs four at a time, in tiles of
    /// [`TILE`] inputs so that a tile stays in cache while every weight row
    /// streams past it once: a weight block is read and decoded once per four
    /// inputs instead of once per input.
    pub fn matmul(&self, xs: &[Q8Vector], out: &mut [f32]) {
        let rows = self.rows;
        for (t, tile) in xs.chunks(TILE).enumerate() {
            let out = &mut out[t * TILE * rows..];
            for r in 0..rows {
                let mut fours = tile.chunks_exact(4);
                for (g, x) in fours.by_ref().enumerate() {
                    let dots = self.row_dot_x4(r, [&x[0], &x[1], &x[2], &x[3]]);
                    for (j, v) in dots.into_iter().enumerate() {
                        out[(g * 4 + j) * rows + r] = v;
                    }
                }
                let done = tile.len() - fours.remainder().len();
                for (j, x) in fours.remainder().iter().enumerate() {
                    out[(done + j) * rows + r] = self.row_dot(r, x);
                }
            }
        }
    }
}

/// Any other type: dequantized a row at a time (never the whole matrix in
/// f32) and quantized to Q8_0 blocks.
fn requantize_q8_0(ty: GgmlType, rows: usize, cols: usize, bytes: &[u8]) -> Result<Planes> {
    let row_bytes = ty
        .bytes_for(cols as u64)
        .filter(|&b| b as usize * rows == bytes.len())
        .ok_or_else(|| NavajaError::unsupported(format!("rows of {cols} values do not split {ty} blocks")))?
        as usize;
    let blocks = rows * cols / BLOCK;
    let (mut d, mut qs) = (Vec::with_capacity(blocks), Vec::with_capacity(rows * cols));
    let mut row = vec![0f32; cols];
    for src in bytes.chunks_exact(row_bytes) {
        dequantize(ty, src, &mut row)?;
        for block in row.chunks_exact(BLOCK) {
            let (scale, q) = dot::quantize_block(block);
            d.push(scale);
            qs.extend(q.iter().map(|&v| v as i8));
        }
    }
    Ok(Planes::Q8_0 { d, qs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::Rng;
    use crate::testing::random_blocks;

    /// Every kept and requantized type against the f64 product of the
    /// dequantized weights with the dequantized (8-bit) input.
    #[test]
    fn matvec_matches_dequantized_product() {
        let (rows, cols) = (7, 256);
        let mut rng = Rng::new(11);
        let x: Vec<f32> = (0..cols).map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 2.0).collect();
        let xq = Q8Vector::from_values(&x);
        let x_seen: Vec<f64> = (0..cols).map(|i| f64::from(xq.d[i / BLOCK]) * f64::from(xq.q[i])).collect();
        for ty in [
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q8_0,
            GgmlType::F32,
            GgmlType::F16,
            GgmlType::Q4_K,
            GgmlType::Q6_K,
        ] {
            let bytes = random_blocks(ty, rows * cols, &mut rng, 0.5).unwrap();
            let m = QuantMatrix::from_ggml(ty, rows, cols, &bytes).unwrap();
            let mut w = vec![0f32; rows * cols];
            dequantize(ty, &bytes, &mut w).unwrap();
            let mut got = vec![0f32; rows];
            m.matvec(&xq, &mut got);
            let mut row = vec![0f32; cols];
            for r in 0..rows {
                m.row_into(r, &mut row);
                let want: f64 = row.iter().zip(&x_seen).map(|(&w, &x)| f64::from(w) * x).sum();
                assert!(
                    (f64::from(got[r]) - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{ty} row {r}: {} vs {want}",
                    got[r]
                );
                // Kept types hold the file's values exactly; requantized ones within a Q8 step.
                let src = &w[r * cols..(r + 1) * cols];
                let exact = matches!(ty, GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0);
                for (b, (a, s)) in row.chunks(BLOCK).zip(src.chunks(BLOCK)).enumerate() {
                    let amax = s.iter().fold(0f32, |m, v| m.max(v.abs()));
                    let tol = if exact { 0.0 } else { amax / 127.0 * 0.5 + 1e-6 };
                    assert!(a.iter().zip(s).all(|(a, s)| (a - s).abs() <= tol), "{ty} row {r} block {b}");
                }
            }
        }
    }

    /// The batched product (tiles, groups of four and the remainder) equals
    /// one product per input, bit for bit, for every kind of plane.
    #[test]
    fn matmul_equals_one_matvec_per_input() {
        let (rows, cols) = (5, 256);
        let mut seed = 3u32;
        let mut unit = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1 << 23) as f32 - 1.0
        };
        let w: Vec<f32> = (0..rows * cols).map(|_| unit()).collect();
        let mut rng = Rng::new(5);
        let mut matrices = vec![(QuantMatrix::q12_from_f32(rows, cols, &w).unwrap(), true)];
        for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q6_K] {
            let bytes = random_blocks(ty, rows * cols, &mut rng, 0.5).unwrap();
            matrices.push((QuantMatrix::from_ggml(ty, rows, cols, &bytes).unwrap(), false));
        }
        for (m, fine) in &matrices {
            for n in [1, 4, 7, TILE, TILE + 5, 2 * TILE + 3] {
                let xs: Vec<Q8Vector> = (0..n)
                    .map(|_| {
                        let values: Vec<f32> = (0..cols).map(|_| unit() * 3.0).collect();
                        let mut v = Q8Vector::default();
                        if *fine {
                            v.quantize_fine(&values)
                        } else {
                            v.quantize(&values)
                        }
                        v
                    })
                    .collect();
                let mut got = vec![f32::NAN; n * rows];
                m.matmul(&xs, &mut got);
                for (i, x) in xs.iter().enumerate() {
                    let mut want = vec![0f32; rows];
                    m.matvec(x, &mut want);
                    assert_eq!(&got[i * rows..(i + 1) * rows], &want[..], "{n} inputs, input {i}");
                }
            }
        }
        assert!(QuantMatrix::q12_from_f32(2, 96, &[0.0; 192]).is_err());
        assert!(QuantMatrix::q12_from_f32(2, 64, &[0.0; 127]).is_err());
    }

    #[test]
    fn bad_shapes_are_errors() {
        let bytes = vec![0u8; 18 * 2];
        assert!(QuantMatrix::from_ggml(GgmlType::Q4_0, 1, 48, &bytes).is_err());
        assert!(QuantMatrix::from_ggml(GgmlType::Q4_0, 1, 64, &bytes[..30]).is_err());
        assert!(QuantMatrix::from_ggml(GgmlType::Q4_0, 1, 64, &bytes).is_ok());
    }
}
