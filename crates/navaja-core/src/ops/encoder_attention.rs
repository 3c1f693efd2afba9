//! Bidirectional attention over packed sequences (an encoder's
//! self-attention), with optional symmetric ALiBi biases.
//!
//! Layouts (f32, token-major): `q`, `k`, `v` and the output are
//! [rows, n_heads * head_dim], the rows of sequence `s` being the `lens[s]`
//! that follow sequence `s - 1` (see [`super::pooling::check_packed`]). A
//! query sees every key of its own sequence and none of the others: packing
//! is the padding mask. With ALiBi (JinaBERT), the score of query `i` and
//! key `j` of head `h` gets `-slope[h] * |i - j|` (positions within the sequence).

use super::pooling::check_packed;
use crate::{NavajaError, Result};

/// Checks an encoder attention call; returns the number of rows. Shared by
/// the CPU reference and the GPU op.
pub fn check_encoder_attention(
    q_len: usize,
    lens: &[usize],
    n_heads: usize,
    head_dim: usize,
    scale: f32,
    slopes: Option<&[f32]>,
) -> Result<usize> {
    let bad = |m: String| Err(NavajaError::invalid(format!("encoder attention: {m}")));
    if n_heads == 0 || head_dim == 0 {
        return bad(format!("n_heads ({n_heads}) and head_dim ({head_dim}) must be > 0"));
    }
    let width = n_heads.checked_mul(head_dim).filter(|&w| w <= u32::MAX as usize);
    let Some(width) = width else { return bad("n_heads * head_dim overflows".into()) };
    if !q_len.is_multiple_of(width) {
        return bad(format!("q has {q_len} values, not rows of {width}"));
    }
    let rows = q_len / width;
    check_packed(lens, rows).map_err(|e| NavajaError::invalid(format!("encoder attention: {e}")))?;
    if !scale.is_finite() {
        return bad(format!("scale must be finite, got {scale}"));
    }
    if let Some(s) = slopes {
        if s.len() != n_heads || s.iter().any(|v| !v.is_finite()) {
            return bad(format!("ALiBi needs {n_heads} finite slopes, got {}", s.len()));
        }
    }
    Ok(rows)
}

/// The ALiBi slope of each head, as llama.cpp computes them from
/// `max_bias` (8 for JinaBERT): head `h` below the largest power of two
/// `n` <= `n_heads` gets `2^(-max_bias (h + 1) / n)`, the rest interleave
/// the slopes of `2n` heads (Press et al.'s recipe for other head counts).
pub fn alibi_slopes(n_heads: usize, max_bias: f32) -> Vec<f32> {
    if n_heads == 0 {
        return Vec::new();
    }
    let n_log2 = 1usize << (usize::BITS - 1 - n_heads.leading_zeros());
    let m0 = 2f64.powf(-f64::from(max_bias) / n_log2 as f64);
    let m1 = 2f64.powf(-f64::from(max_bias) / 2.0 / n_log2 as f64);
    (0..n_heads)
        .map(|h| if h < n_log2 { m0.powi(h as i32 + 1) } else { m1.powi(2 * (h - n_log2) as i32 + 1) } as f32)
        .collect()
}

/// softmax(scale q·k - slope |i - j|) v within each sequence, in f64.
#[allow(clippy::too_many_arguments)] // mirrors the GPU op's fields one to one
pub fn encoder_attention_ref(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    lens: &[usize],
    n_heads: usize,
    head_dim: usize,
    scale: f32,
    slopes: Option<&[f32]>,
) -> Result<Vec<f32>> {
    check_encoder_attention(q.len(), lens, n_heads, head_dim, scale, slopes)?;
    if k.len() != q.len() || v.len() != q.len() {
        return Err(NavajaError::invalid(format!(
            "encoder attention: q, k and v have {}, {} and {} values",
            q.len(),
            k.len(),
            v.len()
        )));
    }
    let (d, width) = (head_dim, n_heads * head_dim);
    let at = |row: usize, h: usize| row * width + h * d..row * width + (h + 1) * d;
    let mut out = vec![0f32; q.len()];
    let mut start = 0;
    for &len in lens {
        for h in 0..n_heads {
            let slope = slopes.map_or(0.0, |s| f64::from(s[h]));
            for i in 0..len {
                let qi = &q[at(start + i, h)];
                let scores: Vec<f64> = (0..len)
                    .map(|j| {
                        let dot: f64 =
                            qi.iter().zip(&k[at(start + j, h)]).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                        dot * f64::from(scale) - slope * i.abs_diff(j) as f64
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = w.iter().sum();
                for (c, o) in out[at(start + i, h)].iter_mut().enumerate() {
                    let acc: f64 = (0..len).map(|j| w[j] * f64::from(v[at(start + j, h)][c])).sum();
                    *o = (acc / total) as f32;
                }
            }
        }
        start += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::attention::attention_ref;

    #[test]
    fn each_sequence_attends_to_itself_only() {
        // Packed [3, 2] with 2 heads of 4: equal to non-causal attention run on each sequence alone.
        let (h, d, lens) = (2, 4, [3usize, 2]);
        let n = 5 * h * d;
        let q: Vec<f32> = (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0).collect();
        let k: Vec<f32> = (0..n).map(|i| ((i * 5 % 13) as f32 - 6.0) / 6.0).collect();
        let v: Vec<f32> = (0..n).map(|i| ((i * 3 % 17) as f32 - 8.0) / 8.0).collect();
        let got = encoder_attention_ref(&q, &k, &v, &lens, h, d, 0.5, None).unwrap();
        let mut start = 0;
        for len in lens {
            let r = start * h * d..(start + len) * h * d;
            let alone =
                attention_ref(&q[r.clone()], &k[r.clone()], &v[r.clone()], len, h, h, d, 0, 0.5, false, 0).unwrap();
            for (a, b) in got[r].iter().zip(&alone) {
                assert!((a - b).abs() < 1e-6);
            }
            start += len;
        }
    }

    #[test]
    fn alibi_prefers_near_keys() {
        // q = 0: without ALiBi every key weighs the same; with it the query's own position wins.
        let v = [0.0f32, 10.0, 20.0];
        let out = encoder_attention_ref(&[0.0; 3], &[0.0; 3], &v, &[3], 1, 1, 1.0, Some(&[100.0])).unwrap();
        assert!((out[0] - 0.0).abs() < 1e-6 && (out[1] - 10.0).abs() < 1e-6 && (out[2] - 20.0).abs() < 1e-6);
        let flat = encoder_attention_ref(&[0.0; 3], &[0.0; 3], &v, &[3], 1, 1, 1.0, None).unwrap();
        assert!(flat.iter().all(|&o| (o - 10.0).abs() < 1e-5));
    }

    #[test]
    fn alibi_slopes_match_the_recipe() {
        assert_eq!(alibi_slopes(8, 8.0), (1..=8).map(|h| 2f32.powi(-h)).collect::<Vec<_>>());
        // 12 heads: 8 from 2^(-h) and 4 from the odd slopes of 16 heads (2^(-(2i+1)/2)).
        let s = alibi_slopes(12, 8.0);
        assert!((s[8] - 2f32.powf(-0.5)).abs() < 1e-7 && (s[11] - 2f32.powf(-3.5)).abs() < 1e-7, "{s:?}");
    }

    #[test]
    fn rejects_bad_calls() {
        let r = |lens: &[usize], slopes: Option<&[f32]>| {
            encoder_attention_ref(&[0.0; 8], &[0.0; 8], &[0.0; 8], lens, 2, 2, 1.0, slopes).unwrap_err().code()
        };
        assert_eq!(r(&[1, 2], None), "invalid-argument");
        assert_eq!(r(&[2, 0], None), "invalid-argument");
        assert_eq!(r(&[2], Some(&[1.0])), "invalid-argument");
        let short_k = encoder_attention_ref(&[0.0; 8], &[0.0; 4], &[0.0; 8], &[2], 2, 2, 1.0, None);
        assert_eq!(short_k.unwrap_err().code(), "invalid-argument");
    }
}
