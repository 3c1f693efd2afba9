//! Matrix times activations with a ggml-typed weight: the reference for the
//! GPU matmul and matvec kernels.
//!
//! The weight `W` has `rows` output rows of `cols` input values (ggml dims
//! `[cols, rows]`), each row stored as `cols / block_len` blocks. The
//! activations `x` are `n` token rows of `cols` values, and the result `y`
//! is `n` token rows of `rows` values:
//! `y[t * rows + r] = sum_c W[r, c] * x[t * cols + c]`.

use crate::quant::GgmlType;
use crate::quant::dequant::dequantize;
use crate::{NavajaError, Result};

/// Checks the shapes of a matmul: non-empty sizes, `x` holding `n` rows of
/// `cols` values, no overflow in `rows * cols` or `n * rows`. Shared by the
/// CPU reference and the GPU op so that both reject the same inputs.
pub fn check_matmul_shape(rows: usize, cols: usize, x_len: usize, n: usize) -> Result<()> {
    if rows == 0 || cols == 0 || n == 0 {
        return Err(NavajaError::invalid(format!("matmul: rows ({rows}), cols ({cols}) and n ({n}) must be > 0")));
    }
    if rows.checked_mul(cols).is_none() || rows.checked_mul(n).is_none() {
        return Err(NavajaError::invalid(format!("matmul: a {rows}x{cols} weight times {n} rows is too large")));
    }
    if n.checked_mul(cols) != Some(x_len) {
        return Err(NavajaError::invalid(format!(
            "matmul: x has {x_len} values, but {n} rows of {cols} values were announced"
        )));
    }
    Ok(())
}

/// `y = W x` for `n` token rows, computed on the dequantized weights with
/// f64 accumulation (so it is more accurate than any f32 kernel).
///
/// Errors: bad shapes or a byte length that is not the matrix's size are
/// `invalid-argument`; a type navaja cannot dequantize is `unsupported-model`.
pub fn matmul_ref(ty: GgmlType, ggml_bytes: &[u8], rows: usize, cols: usize, x: &[f32], n: usize) -> Result<Vec<f32>> {
    check_matmul_shape(rows, cols, x.len(), n)?;
    let mut w = vec![0.0f32; rows * cols];
    dequantize(ty, ggml_bytes, &mut w)?;
    let mut y = Vec::with_capacity(n * rows);
    for xt in x.chunks_exact(cols) {
        for wr in w.chunks_exact(cols) {
            let sum: f64 = wr.iter().zip(xt).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
            y.push(sum as f32);
        }
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|f| f.to_le_bytes()).collect()
    }

    #[test]
    fn small_f32_product() {
        // W = [[1, 2, 3], [4, 5, 6]], x = [[1, 0, -1], [2, 2, 2]]
        let w = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let y = matmul_ref(GgmlType::F32, &w, 2, 3, &[1.0, 0.0, -1.0, 2.0, 2.0, 2.0], 2).unwrap();
        assert_eq!(y, vec![-2.0, -2.0, 12.0, 30.0]);
    }

    #[test]
    fn q8_0_product() {
        // One block, d = 0.5, quants 1..=32; x = ones: 0.5 * (32 * 33 / 2).
        let mut block = vec![0x00, 0x38];
        block.extend(1..=32u8);
        let y = matmul_ref(GgmlType::Q8_0, &block, 1, 32, &[1.0; 32], 1).unwrap();
        assert_eq!(y, vec![264.0]);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let w = f32_bytes(&[1.0; 6]);
        for (rows, cols, x_len, n) in [(0, 3, 3, 1), (2, 0, 0, 1), (2, 3, 0, 0), (2, 3, 4, 1), (2, 3, 3, 2)] {
            let err = matmul_ref(GgmlType::F32, &w, rows, cols, &vec![1.0; x_len], n).unwrap_err();
            assert_eq!(err.code(), "invalid-argument", "{err}");
        }
        let err = matmul_ref(GgmlType::F32, &w[..20], 2, 3, &[1.0; 3], 1).unwrap_err();
        assert_eq!(err.code(), "invalid-argument", "{err}");
        let err = matmul_ref(GgmlType::Q8_K, &[0; 292], 1, 256, &[1.0; 256], 1).unwrap_err();
        assert_eq!(err.code(), "unsupported-model", "{err}");
        let err = check_matmul_shape(usize::MAX, 2, 2, 1).unwrap_err();
        assert_eq!(err.code(), "invalid-argument", "{err}");
    }
}
