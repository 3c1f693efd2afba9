//! Rotary position embedding (RoPE), as ggml's `rope` computes it.
//!
//! For every token `t` (at position `start_pos + t`), every head and every
//! frequency `i < rot_dims / 2`, a pair of values of the head is rotated by
//!
//! ```text
//! theta_i = pos * freq_scale * freq_base^(-2i / rot_dims) / freq_factors[i]
//! ```
//!
//! [`RopeOrdering::Normal`] pairs `(2i, 2i + 1)`, [`RopeOrdering::Neox`]
//! pairs `(i, i + rot_dims / 2)`; values past `rot_dims` are left unchanged.
//! The reference computes the angles and the rotation in f64, so it is exact
//! to f32 rounding even at positions in the hundreds of thousands.

use crate::model::RopeOrdering;
use crate::{NavajaError, Result};

/// Positions must stay below this (2^24): the GPU kernel represents them exactly in f32.
pub const MAX_ROPE_POSITION: usize = 1 << 24;

/// Checks the arguments of a RoPE call; shared by the CPU reference and the
/// GPU op so both reject the same inputs.
pub fn check_rope(
    n_tokens: usize,
    n_heads: usize,
    head_dim: usize,
    rot_dims: usize,
    start_pos: usize,
    freq_base: f32,
    freq_scale: f32,
) -> Result<()> {
    if n_tokens == 0 || n_heads == 0 || head_dim == 0 || rot_dims == 0 {
        return Err(NavajaError::invalid(format!(
            "rope: n_tokens ({n_tokens}), n_heads ({n_heads}), head_dim ({head_dim}) and rot_dims ({rot_dims}) must be > 0"
        )));
    }
    if !rot_dims.is_multiple_of(2) || rot_dims > head_dim {
        return Err(NavajaError::invalid(format!(
            "rope: rot_dims ({rot_dims}) must be even and at most head_dim ({head_dim})"
        )));
    }
    if start_pos.checked_add(n_tokens).is_none_or(|end| end > MAX_ROPE_POSITION) {
        return Err(NavajaError::invalid(format!(
            "rope: positions up to {start_pos} + {n_tokens} exceed the supported {MAX_ROPE_POSITION}"
        )));
    }
    let positive = |v: f32| v.is_finite() && v > 0.0;
    if !positive(freq_base) || !positive(freq_scale) {
        return Err(NavajaError::invalid(format!(
            "rope: freq_base ({freq_base}) and freq_scale ({freq_scale}) must be finite and > 0"
        )));
    }
    Ok(())
}

/// `freq_scale * freq_base^(-2i / rot_dims)`: the angle per position of frequency `i`, before freq factors.
pub fn rope_frequency(i: usize, rot_dims: usize, freq_base: f32, freq_scale: f32) -> f64 {
    f64::from(freq_scale) * f64::from(freq_base).powf(-2.0 * i as f64 / rot_dims as f64)
}

/// Rotates `x` ([n_tokens, n_heads * head_dim], token-major) in place.
/// `freq_factors`, when given, holds `rot_dims / 2` divisors of the angles (Llama 3.1's `rope_freqs`).
#[allow(clippy::too_many_arguments)] // mirrors the GPU op's fields one to one
pub fn rope_ref(
    x: &mut [f32],
    n_tokens: usize,
    n_heads: usize,
    head_dim: usize,
    rot_dims: usize,
    start_pos: usize,
    ordering: RopeOrdering,
    freq_base: f32,
    freq_scale: f32,
    freq_factors: Option<&[f32]>,
) -> Result<()> {
    check_rope(n_tokens, n_heads, head_dim, rot_dims, start_pos, freq_base, freq_scale)?;
    let half = rot_dims / 2;
    if x.len() != n_tokens * n_heads * head_dim {
        return Err(NavajaError::invalid(format!(
            "rope: x has {} values, expected {n_tokens} x {n_heads} x {head_dim}",
            x.len()
        )));
    }
    if let Some(f) = freq_factors
        && f.len() != half
    {
        return Err(NavajaError::invalid(format!("rope: {} freq factors, expected rot_dims / 2 = {half}", f.len())));
    }
    let freqs: Vec<f64> = (0..half)
        .map(|i| {
            let factor = freq_factors.map_or(1.0, |f| f64::from(f[i]));
            rope_frequency(i, rot_dims, freq_base, freq_scale) / factor
        })
        .collect();
    for (t, token) in x.chunks_exact_mut(n_heads * head_dim).enumerate() {
        let pos = (start_pos + t) as f64;
        for head in token.chunks_exact_mut(head_dim) {
            for (i, freq) in freqs.iter().enumerate() {
                let (sin, cos) = (pos * freq).sin_cos();
                let (a, b) = match ordering {
                    RopeOrdering::Normal => (2 * i, 2 * i + 1),
                    RopeOrdering::Neox => (i, i + half),
                };
                let (x0, x1) = (f64::from(head[a]), f64::from(head[b]));
                head[a] = (x0 * cos - x1 * sin) as f32;
                head[b] = (x0 * sin + x1 * cos) as f32;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_zero_is_the_identity() {
        let mut x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let orig = x.clone();
        rope_ref(&mut x, 1, 2, 8, 8, 0, RopeOrdering::Normal, 10000.0, 1.0, None).unwrap();
        assert_eq!(x, orig);
    }

    #[test]
    fn rotates_the_right_pairs() {
        // Two tokens of one head of 6 values, 4 rotated; base 1, so every angle is the position.
        let (s, c) = 1f64.sin_cos();
        let mut x = vec![1.0, 0.0, 0.0, 1.0, 7.0, 8.0, 1.0, 0.0, 0.0, 1.0, 7.0, 8.0];
        rope_ref(&mut x, 2, 1, 6, 4, 0, RopeOrdering::Normal, 1.0, 1.0, None).unwrap();
        let want = [1.0, 0.0, 0.0, 1.0, 7.0, 8.0, c, s, -s, c, 7.0, 8.0];
        for (g, w) in x.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-7, "{x:?}");
        }
        // Neox: pairs (0, 2) and (1, 3).
        let mut n = vec![1.0, 0.0, 0.0, 1.0, 7.0, 8.0];
        rope_ref(&mut n, 1, 1, 6, 4, 1, RopeOrdering::Neox, 1.0, 1.0, None).unwrap();
        let want = [c, -s, s, c, 7.0, 8.0];
        for (g, w) in n.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-7, "{n:?}");
        }
    }

    #[test]
    fn freq_factors_divide_the_angle() {
        let mut a = vec![1.0, 0.0, 1.0, 0.0];
        let mut b = a.clone();
        rope_ref(&mut a, 1, 1, 4, 4, 10, RopeOrdering::Normal, 100.0, 1.0, Some(&[2.0, 4.0])).unwrap();
        rope_ref(&mut b, 1, 1, 4, 4, 10, RopeOrdering::Normal, 100.0, 1.0, None).unwrap();
        assert!((f64::from(a[1]) - 5f64.sin()).abs() < 1e-7);
        assert!((f64::from(b[1]) - 10f64.sin()).abs() < 1e-7);
        assert!((f64::from(a[3]) - (10.0 * 0.1f64 / 4.0).sin()).abs() < 1e-7);
    }

    #[test]
    fn rejects_bad_arguments() {
        let mut x = vec![0.0; 8];
        let bad = [
            rope_ref(&mut x, 1, 1, 8, 0, 0, RopeOrdering::Normal, 1e4, 1.0, None),
            rope_ref(&mut x, 1, 1, 8, 3, 0, RopeOrdering::Normal, 1e4, 1.0, None),
            rope_ref(&mut x, 1, 1, 8, 10, 0, RopeOrdering::Normal, 1e4, 1.0, None),
            rope_ref(&mut x, 2, 1, 8, 8, 0, RopeOrdering::Normal, 1e4, 1.0, None),
            rope_ref(&mut x, 1, 1, 8, 8, 0, RopeOrdering::Normal, 0.0, 1.0, None),
            rope_ref(&mut x, 1, 1, 8, 8, MAX_ROPE_POSITION, RopeOrdering::Normal, 1e4, 1.0, None),
            rope_ref(&mut x, 1, 1, 8, 8, 0, RopeOrdering::Normal, 1e4, 1.0, Some(&[1.0])),
        ];
        for r in bad {
            assert_eq!(r.unwrap_err().code(), "invalid-argument");
        }
    }
}
