//! RMSNorm as used by Llama-family models:
//! `y[r, i] = x[r, i] / sqrt(mean_i(x[r, i]^2) + eps) * weight[i]`.
//!
//! The sum of squares is accumulated in f64, as ggml does, so the reference
//! is more accurate than any f32 GPU kernel it is compared with.

use crate::{NavajaError, Result};

/// Checks the shapes of an RMSNorm call and returns the number of rows.
///
/// `x` holds `rows` rows of `weight.len()` values each. Shared by the CPU
/// reference and the GPU op so that both reject exactly the same inputs.
pub fn rms_norm_rows(x_len: usize, weight_len: usize, eps: f32) -> Result<usize> {
    if weight_len == 0 {
        return Err(NavajaError::invalid("rms_norm: weight is empty"));
    }
    if x_len == 0 {
        return Err(NavajaError::invalid("rms_norm: input is empty"));
    }
    if !x_len.is_multiple_of(weight_len) {
        return Err(NavajaError::invalid(format!(
            "rms_norm: input length {x_len} is not a multiple of the weight length {weight_len}"
        )));
    }
    if !eps.is_finite() || eps < 0.0 {
        return Err(NavajaError::invalid(format!("rms_norm: eps must be finite and >= 0, got {eps}")));
    }
    Ok(x_len / weight_len)
}

/// Row-wise RMSNorm of `x` (rows of `weight.len()` values), returned as a new vector.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32) -> Result<Vec<f32>> {
    rms_norm_rows(x.len(), weight.len(), eps)?;
    let cols = weight.len();
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(cols) {
        let sum_sq: f64 = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let scale = 1.0 / (sum_sq / cols as f64 + f64::from(eps)).sqrt();
        out.extend(row.iter().zip(weight).map(|(&v, &w)| (f64::from(v) * scale * f64::from(w)) as f32));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::StdRng};

    #[test]
    fn known_values() {
        // mean(1, 4, 9, 16) = 7.5 -> scale = 1/sqrt(7.5)
        let y = rms_norm(&[1.0, 2.0, 3.0, 4.0], &[1.0, 1.0, 2.0, -1.0], 0.0).unwrap();
        let s = 1.0 / 7.5f64.sqrt();
        let want = [s, 2.0 * s, 6.0 * s, -4.0 * s];
        for (a, b) in y.iter().zip(want) {
            assert!((f64::from(*a) - b).abs() < 1e-7, "{a} vs {b}");
        }
    }

    #[test]
    fn eps_keeps_zero_rows_finite() {
        let y = rms_norm(&[0.0; 8], &[1.0; 4], 1e-6).unwrap();
        assert!(y.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn output_has_unit_rms_with_unit_weight() {
        let mut rng = StdRng::seed_from_u64(7);
        let cols = 576;
        let x: Vec<f32> = (0..cols * 3).map(|_| rng.random_range(-20.0..20.0)).collect();
        let y = rms_norm(&x, &vec![1.0; cols], 0.0).unwrap();
        for row in y.chunks(cols) {
            let ms: f64 = row.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / cols as f64;
            assert!((ms - 1.0).abs() < 1e-5, "mean square {ms}");
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        assert_eq!(rms_norm(&[1.0; 5], &[1.0; 2], 1e-5).unwrap_err().code(), "invalid-argument");
        assert_eq!(rms_norm(&[], &[1.0; 2], 1e-5).unwrap_err().code(), "invalid-argument");
        assert_eq!(rms_norm(&[1.0; 2], &[], 1e-5).unwrap_err().code(), "invalid-argument");
        assert_eq!(rms_norm(&[1.0; 2], &[1.0; 2], f32::NAN).unwrap_err().code(), "invalid-argument");
    }
}
