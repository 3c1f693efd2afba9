//! Scaled dot-product attention over a KV cache, with grouped-query heads,
//! causal masking and an optional sliding window.
//!
//! Layouts (f32, token-major): `q` is [n_tokens, n_heads * head_dim];
//! `k_cache` and `v_cache` are [capacity, n_kv_heads * head_dim] with row `p`
//! holding position `p`; the output has the layout of `q`. Query `t` sits at
//! position `start_pos + t`, and keys `0..start_pos + n_tokens` are in the cache.
//! Query head `h` reads kv head `h / (n_heads / n_kv_heads)`.
//!
//! The reference keeps every score and normalises in f64: the oracle the
//! GPU's online (flash) softmax is tested against.

use crate::{NavajaError, Result};

/// The shape of one attention call, validated by [`AttentionShape::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    pub n_tokens: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub start_pos: usize,
    pub causal: bool,
    /// 0: no window; else a query at `p` sees only keys `j` with `p - j < window`.
    pub window: usize,
    /// With a window: keys `0..sink` stay visible to every query (attention sinks).
    pub sink: usize,
}

impl AttentionShape {
    /// Checks the arguments; shared by the CPU reference and the GPU op.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        n_tokens: usize,
        n_heads: usize,
        n_kv_heads: usize,
        head_dim: usize,
        start_pos: usize,
        scale: f32,
        causal: bool,
        window: usize,
    ) -> Result<AttentionShape> {
        if n_tokens == 0 || n_heads == 0 || n_kv_heads == 0 || head_dim == 0 {
            return Err(NavajaError::invalid(format!(
                "attention: n_tokens ({n_tokens}), n_heads ({n_heads}), n_kv_heads ({n_kv_heads}) \
                 and head_dim ({head_dim}) must be > 0"
            )));
        }
        if !n_heads.is_multiple_of(n_kv_heads) {
            return Err(NavajaError::invalid(format!(
                "attention: n_heads ({n_heads}) is not a multiple of n_kv_heads ({n_kv_heads})"
            )));
        }
        if start_pos.checked_add(n_tokens).is_none_or(|n| n > u32::MAX as usize) {
            return Err(NavajaError::invalid(format!("attention: start_pos {start_pos} + n_tokens overflows")));
        }
        let q_len = n_tokens.checked_mul(n_heads).and_then(|n| n.checked_mul(head_dim));
        if q_len.is_none() || n_kv_heads.checked_mul(head_dim).is_none() {
            return Err(NavajaError::invalid("attention: the sizes of q or of a cache row overflow"));
        }
        if !scale.is_finite() {
            return Err(NavajaError::invalid(format!("attention: scale must be finite, got {scale}")));
        }
        Ok(AttentionShape { n_tokens, n_heads, n_kv_heads, head_dim, start_pos, causal, window, sink: 0 })
    }

    /// The same shape with the first `sink` positions visible through the window.
    pub fn with_sink(self, sink: usize) -> AttentionShape {
        AttentionShape { sink, ..self }
    }

    /// Keys in the cache: positions `0..kv_len`.
    pub fn kv_len(&self) -> usize {
        self.start_pos + self.n_tokens
    }

    /// Query heads per kv head.
    pub fn group(&self) -> usize {
        self.n_heads / self.n_kv_heads
    }

    /// f32 values of q (and of the output).
    pub fn q_len(&self) -> usize {
        self.n_tokens * self.n_heads * self.head_dim
    }

    /// f32 values per cache row.
    pub fn kv_width(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Whether the query at position `pos` sees the key at position `key`.
    pub fn sees(&self, pos: usize, key: usize) -> bool {
        let in_cache = key < self.kv_len();
        let causal_ok = !self.causal || key <= pos;
        let window_ok = self.window == 0 || key + self.window > pos || key < self.sink;
        in_cache && causal_ok && window_ok
    }
}

/// Attention output [n_tokens, n_heads * head_dim]. `k_cache` and `v_cache`
/// must hold at least `start_pos + n_tokens` rows.
#[allow(clippy::too_many_arguments)] // mirrors the GPU op's fields one to one
pub fn attention_ref(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    n_tokens: usize,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    start_pos: usize,
    scale: f32,
    causal: bool,
    window: usize,
) -> Result<Vec<f32>> {
    let s = AttentionShape::new(n_tokens, n_heads, n_kv_heads, head_dim, start_pos, scale, causal, window)?;
    attention_ref_shape(q, k_cache, v_cache, &s, scale)
}

/// [`attention_ref`] for a validated shape (which may carry a sink).
pub fn attention_ref_shape(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    s: &AttentionShape,
    scale: f32,
) -> Result<Vec<f32>> {
    let (n_tokens, n_heads, start_pos) = (s.n_tokens, s.n_heads, s.start_pos);
    if q.len() != s.q_len() {
        return Err(NavajaError::invalid(format!("attention: q has {} values, expected {}", q.len(), s.q_len())));
    }
    let kv_needed = s.kv_len() * s.kv_width();
    if k_cache.len() < kv_needed || v_cache.len() < kv_needed {
        return Err(NavajaError::invalid(format!(
            "attention: the caches hold {} and {} values, {} positions need {kv_needed}",
            k_cache.len(),
            v_cache.len(),
            s.kv_len()
        )));
    }
    let d = s.head_dim;
    let mut out = vec![0.0f32; q.len()];
    let mut scores = Vec::with_capacity(s.kv_len());
    for t in 0..n_tokens {
        let pos = start_pos + t;
        for h in 0..n_heads {
            let kv_col = (h / s.group()) * d;
            let q_row = &q[(t * n_heads + h) * d..][..d];
            scores.clear();
            for key in (0..s.kv_len()).filter(|&key| s.sees(pos, key)) {
                let k_row = &k_cache[key * s.kv_width() + kv_col..][..d];
                let dot: f64 = q_row.iter().zip(k_row).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                scores.push((key, dot * f64::from(scale)));
            }
            let max = scores.iter().map(|&(_, v)| v).fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = scores.iter().map(|&(_, v)| (v - max).exp()).collect();
            let total: f64 = weights.iter().sum();
            let o = &mut out[(t * n_heads + h) * d..][..d];
            for (i, o) in o.iter_mut().enumerate() {
                let acc: f64 = scores
                    .iter()
                    .zip(&weights)
                    .map(|(&(key, _), w)| w * f64::from(v_cache[key * s.kv_width() + kv_col + i]))
                    .sum();
                *o = (acc / total) as f32;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_returns_its_value() {
        let out = attention_ref(&[1.0, 2.0], &[3.0, 4.0], &[5.0, 6.0], 1, 1, 1, 2, 0, 0.5, true, 0).unwrap();
        assert_eq!(out, vec![5.0, 6.0]);
    }

    #[test]
    fn equal_scores_average_the_values() {
        // q = 0: every visible key has weight 1/n.
        let v = [1.0, 2.0, 3.0, 4.0];
        let k = [0.0; 4];
        let causal = attention_ref(&[0.0, 0.0], &k, &v, 2, 1, 1, 1, 2, 1.0, true, 0).unwrap();
        assert_eq!(causal, vec![2.0, 2.5]);
        let full = attention_ref(&[0.0, 0.0], &k, &v, 2, 1, 1, 1, 2, 1.0, false, 0).unwrap();
        assert_eq!(full, vec![2.5, 2.5]);
        let windowed = attention_ref(&[0.0, 0.0], &k, &v, 2, 1, 1, 1, 2, 1.0, true, 2).unwrap();
        assert_eq!(windowed, vec![2.5, 3.5]);
    }

    #[test]
    fn sink_keys_stay_visible_through_the_window() {
        // Keys 0..6, window 2, sink 1: the query at 5 sees 0, 4 and 5.
        let s = AttentionShape::new(1, 1, 1, 1, 5, 1.0, true, 2).unwrap().with_sink(1);
        let seen: Vec<usize> = (0..6).filter(|&k| s.sees(5, k)).collect();
        assert_eq!(seen, vec![0, 4, 5]);
        let v = [3.0, 100.0, 100.0, 100.0, 6.0, 9.0];
        let out = attention_ref_shape(&[0.0], &[0.0; 6], &v, &s, 1.0).unwrap();
        assert_eq!(out, vec![6.0]);
    }

    #[test]
    fn grouped_heads_share_a_kv_head() {
        // 4 query heads on 2 kv heads (head_dim 1): heads 0, 1 read kv head 0.
        let out = attention_ref(&[1.0; 4], &[0.0, 0.0], &[10.0, 20.0], 1, 4, 2, 1, 0, 1.0, true, 0).unwrap();
        assert_eq!(out, vec![10.0, 10.0, 20.0, 20.0]);
    }

    #[test]
    fn rejects_bad_shapes() {
        let r = |n_heads, n_kv, d, q_len: usize| {
            attention_ref(&vec![0.0; q_len], &[0.0; 64], &[0.0; 64], 1, n_heads, n_kv, d, 0, 1.0, true, 0)
        };
        assert_eq!(r(9, 2, 1, 9).unwrap_err().code(), "invalid-argument");
        assert_eq!(r(0, 1, 1, 0).unwrap_err().code(), "invalid-argument");
        assert_eq!(r(1, 1, 0, 0).unwrap_err().code(), "invalid-argument");
        assert_eq!(r(2, 1, 2, 3).unwrap_err().code(), "invalid-argument");
        assert_eq!(r(2, 2, 64, 128).unwrap_err().code(), "invalid-argument"); // cache too short
        assert!(r(2, 1, 2, 4).is_ok());
    }
}
