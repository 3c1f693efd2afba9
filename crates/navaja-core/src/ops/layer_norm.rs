//! LayerNorm as BERT uses it (post-norm blocks, embedding norm):
//! `y[r, i] = (x[r, i] - mean_r) / sqrt(var_r + eps) * weight[i] + bias[i]`,
//! with the biased (population) variance, as PyTorch and ggml compute it.
//!
//! Mean and variance are accumulated in f64 in two passes (the variance of
//! the deviations, not E[x²] - E[x]², which cancels for rows with a large
//! mean), so the reference is more accurate than the f32 GPU kernel.

use crate::{NavajaError, Result};

/// Checks the shapes of a LayerNorm call and returns the number of rows.
/// Shared by the CPU reference and the GPU op.
pub fn layer_norm_rows(x_len: usize, weight_len: usize, bias_len: usize, eps: f32) -> Result<usize> {
    if weight_len == 0 {
        return Err(NavajaError::invalid("layer_norm: weight is empty"));
    }
    if bias_len != weight_len {
        return Err(NavajaError::invalid(format!("layer_norm: bias has {bias_len} values, the weight {weight_len}")));
    }
    if x_len == 0 || !x_len.is_multiple_of(weight_len) {
        return Err(NavajaError::invalid(format!(
            "layer_norm: input length {x_len} is not a positive multiple of the weight length {weight_len}"
        )));
    }
    if !eps.is_finite() || eps < 0.0 {
        return Err(NavajaError::invalid(format!("layer_norm: eps must be finite and >= 0, got {eps}")));
    }
    Ok(x_len / weight_len)
}

/// Row-wise LayerNorm of `x` (rows of `weight.len()` values).
pub fn layer_norm(x: &[f32], weight: &[f32], bias: &[f32], eps: f32) -> Result<Vec<f32>> {
    layer_norm_rows(x.len(), weight.len(), bias.len(), eps)?;
    let cols = weight.len();
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(cols) {
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / cols as f64;
        let var = row.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / cols as f64;
        let rstd = 1.0 / (var + f64::from(eps)).sqrt();
        out.extend(
            row.iter()
                .zip(weight.iter().zip(bias))
                .map(|(&v, (&w, &b))| ((f64::from(v) - mean) * rstd * f64::from(w) + f64::from(b)) as f32),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // mean 2.5, variance 1.25
        let y = layer_norm(&[1.0, 2.0, 3.0, 4.0], &[1.0, 1.0, 2.0, 1.0], &[0.0, 1.0, 0.0, -1.0], 0.0).unwrap();
        let s = 1.0 / 1.25f64.sqrt();
        let want = [-1.5 * s, -0.5 * s + 1.0, 2.0 * 0.5 * s, 1.5 * s - 1.0];
        for (a, b) in y.iter().zip(want) {
            assert!((f64::from(*a) - b).abs() < 1e-7, "{a} vs {b}");
        }
    }

    #[test]
    fn a_large_mean_does_not_cancel() {
        // Values 1e4 + {-1, 1}: E[x²] - E[x]² in f32 would be garbage.
        let y = layer_norm(&[10_000.0 - 1.0, 10_000.0 + 1.0], &[1.0, 1.0], &[0.0, 0.0], 0.0).unwrap();
        assert!((y[0] + 1.0).abs() < 1e-6 && (y[1] - 1.0).abs() < 1e-6, "{y:?}");
    }

    #[test]
    fn constant_rows_give_the_bias() {
        let y = layer_norm(&[3.0; 8], &[2.0; 4], &[0.5; 4], 1e-12).unwrap();
        assert!(y.iter().all(|&v| v == 0.5));
    }

    #[test]
    fn rejects_bad_shapes() {
        let code = |r: Result<Vec<f32>>| r.unwrap_err().code();
        assert_eq!(code(layer_norm(&[1.0; 5], &[1.0; 2], &[0.0; 2], 1e-5)), "invalid-argument");
        assert_eq!(code(layer_norm(&[], &[1.0; 2], &[0.0; 2], 1e-5)), "invalid-argument");
        assert_eq!(code(layer_norm(&[1.0; 2], &[], &[], 1e-5)), "invalid-argument");
        assert_eq!(code(layer_norm(&[1.0; 2], &[1.0; 2], &[0.0; 1], 1e-5)), "invalid-argument");
        assert_eq!(code(layer_norm(&[1.0; 2], &[1.0; 2], &[0.0; 2], f32::NAN)), "invalid-argument");
    }
}
