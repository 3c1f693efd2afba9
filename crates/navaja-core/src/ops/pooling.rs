//! Pooling the token vectors of packed sequences into one vector each, and
//! L2 normalisation: the last step of a sentence embedding.
//!
//! A batch of sequences is *packed*: sequence `s` is the `lens[s]` rows that
//! follow sequence `s - 1`, so there is no padding to mask. Mean pooling
//! averages a sequence's rows (sentence-transformers' `pooling_mode_mean_tokens`
//! with every token attended), CLS takes its first row, last-token its last.

use crate::model::Pooling;
use crate::{NavajaError, Result};

/// Checks that `lens` packs `rows` rows exactly (every sequence non-empty);
/// shared by the pooling and encoder-attention references and the GPU ops.
pub fn check_packed(lens: &[usize], rows: usize) -> Result<()> {
    if lens.is_empty() {
        return Err(NavajaError::invalid("no sequences"));
    }
    if let Some(s) = lens.iter().position(|&l| l == 0) {
        return Err(NavajaError::invalid(format!("sequence {s} is empty")));
    }
    let total = lens.iter().try_fold(0usize, |acc, &l| acc.checked_add(l));
    if total != Some(rows) {
        return Err(NavajaError::invalid(format!(
            "the sequence lengths add up to {}, but there are {rows} rows",
            total.map_or("more than usize::MAX".to_string(), |t| t.to_string())
        )));
    }
    Ok(())
}

/// Scales `v` to unit length (a zero vector stays zero, as in
/// `torch.nn.functional.normalize`, whose eps keeps it finite).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    let scale = 1.0 / norm.max(1e-12);
    v.iter_mut().for_each(|x| *x = (f64::from(*x) * scale) as f32);
}

/// Cosine similarity in f64 (0 when either vector is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    let na: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}

/// One `hidden`-long vector per sequence of `x` (packed rows of `hidden`
/// values), pooled as `pooling` says and, with `normalize`, scaled to unit length.
pub fn pool_ref(x: &[f32], hidden: usize, lens: &[usize], pooling: Pooling, normalize: bool) -> Result<Vec<f32>> {
    if hidden == 0 || !x.len().is_multiple_of(hidden) {
        return Err(NavajaError::invalid(format!("pooling: {} values are not rows of {hidden}", x.len())));
    }
    check_packed(lens, x.len() / hidden).map_err(|e| NavajaError::invalid(format!("pooling: {e}")))?;
    let mut out = Vec::with_capacity(lens.len() * hidden);
    let mut start = 0;
    for &len in lens {
        let rows = &x[start * hidden..(start + len) * hidden];
        let mut v: Vec<f32> = match pooling {
            Pooling::Mean => (0..hidden)
                .map(|d| (rows.chunks_exact(hidden).map(|r| f64::from(r[d])).sum::<f64>() / len as f64) as f32)
                .collect(),
            Pooling::Cls => rows[..hidden].to_vec(),
            Pooling::Last => rows[(len - 1) * hidden..].to_vec(),
            Pooling::None => {
                return Err(NavajaError::invalid("pooling: \"none\" keeps every token; there is nothing to pool"));
            }
        };
        if normalize {
            l2_normalize(&mut v);
        }
        out.extend(v);
        start += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_packed_sequences() {
        // Two sequences: rows [1, 2], [3, 4] then [10, 20].
        let x = [1.0, 2.0, 3.0, 4.0, 10.0, 20.0];
        assert_eq!(pool_ref(&x, 2, &[2, 1], Pooling::Mean, false).unwrap(), vec![2.0, 3.0, 10.0, 20.0]);
        assert_eq!(pool_ref(&x, 2, &[2, 1], Pooling::Cls, false).unwrap(), vec![1.0, 2.0, 10.0, 20.0]);
        assert_eq!(pool_ref(&x, 2, &[2, 1], Pooling::Last, false).unwrap(), vec![3.0, 4.0, 10.0, 20.0]);
        let n = pool_ref(&x, 2, &[1, 2], Pooling::Cls, true).unwrap();
        assert!((n[0] - 0.447_213_6).abs() < 1e-6 && (n[2] - 0.6).abs() < 1e-6 && (n[3] - 0.8).abs() < 1e-6, "{n:?}");
    }

    #[test]
    fn normalize_keeps_zero_finite_and_cosine_is_scale_free() {
        let mut z = vec![0.0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0; 3]);
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn rejects_bad_packing() {
        let x = [0.0; 6];
        for lens in [&[][..], &[3, 0], &[2, 2], &[1, 1]] {
            assert_eq!(pool_ref(&x, 2, lens, Pooling::Mean, false).unwrap_err().code(), "invalid-argument", "{lens:?}");
        }
        assert_eq!(pool_ref(&x, 4, &[1], Pooling::Mean, false).unwrap_err().code(), "invalid-argument");
        assert_eq!(pool_ref(&x, 2, &[3], Pooling::None, false).unwrap_err().code(), "invalid-argument");
    }
}
