//! The last steps on a row of logits before sampling: repetition
//! penalties and biases, then the top-k candidates with what the host needs
//! to turn them into exact probabilities.
//!
//! Conventions shared with the GPU kernels:
//! - NaN logits count as `-inf`; `-0.0` counts as `0.0`.
//! - Candidates are sorted by logit descending, ties by smaller id first.
//! - `log_sum_exp = ln(sum_j exp((l_j - max) / T))` over the whole row, with
//!   `T = temperature`, or 1 when `temperature <= 0` (greedy). A logit equal to
//!   the max contributes exactly 1, which keeps all-`-inf` (or `+inf`) rows
//!   finite: they behave as uniform over the entries equal to the max.
//!
//! The probability of candidate `c` is then `exp((l_c - max) / T - log_sum_exp)`.

use std::cmp::Ordering;

use crate::{NavajaError, Result};

/// The largest `k` the top-k op supports.
pub const MAX_TOP_K: usize = 256;

/// One logit adjustment: token id, repetition penalty, additive bias.
pub type LogitAdjustment = (u32, f32, f32);

/// `l = (l > 0 ? l / penalty : l * penalty) + bias` for each entry whose id is
/// inside `logits` (others are ignored). Ids are expected to be unique.
pub fn logit_adjust_ref(logits: &mut [f32], entries: &[LogitAdjustment]) {
    for &(id, penalty, bias) in entries {
        if let Some(l) = logits.get_mut(id as usize) {
            *l = adjust_logit(*l, penalty, bias);
        }
    }
}

/// The adjustment of one logit (llama.cpp's repetition penalty, then the bias).
pub fn adjust_logit(l: f32, penalty: f32, bias: f32) -> f32 {
    (if l > 0.0 { l / penalty } else { l * penalty }) + bias
}

/// The best `k` logits of a row and the row's normaliser.
#[derive(Debug, Clone, PartialEq)]
pub struct TopKResult {
    /// `(token id, logit)`, best first; `min(k, n_vocab)` of them.
    pub candidates: Vec<(u32, f32)>,
    /// The largest logit (NaN counting as `-inf`).
    pub max: f32,
    /// `ln(sum_j exp((l_j - max) / T))` over the whole row.
    pub log_sum_exp: f32,
}

impl TopKResult {
    /// Softmax probability of each candidate at the temperature the result was computed with.
    pub fn probabilities(&self, temperature: f32) -> Vec<f32> {
        let inv_t = inverse_temperature(temperature);
        self.candidates
            .iter()
            .map(|&(_, l)| {
                let z = if l == self.max { 0.0 } else { (f64::from(l) - f64::from(self.max)) * f64::from(inv_t) };
                (z - f64::from(self.log_sum_exp)).exp() as f32
            })
            .collect()
    }
}

/// Checks a top-k call; shared with the GPU op.
pub fn check_top_k(n_vocab: usize, k: usize, temperature: f32) -> Result<()> {
    if n_vocab == 0 {
        return Err(NavajaError::invalid("top_k: the logits are empty"));
    }
    if k == 0 || k > MAX_TOP_K {
        return Err(NavajaError::invalid(format!("top_k: k must be in 1..={MAX_TOP_K}, got {k}")));
    }
    if temperature.is_nan() {
        return Err(NavajaError::invalid("top_k: temperature is NaN"));
    }
    Ok(())
}

/// `1 / T`, or 1 for `T <= 0` (greedy decoding still reports a normaliser).
pub fn inverse_temperature(temperature: f32) -> f32 {
    if temperature > 0.0 { 1.0 / temperature } else { 1.0 }
}

/// A logit as ranked: NaN becomes `-inf`, `-0.0` becomes `0.0`.
pub fn canonical_logit(l: f32) -> f32 {
    if l.is_nan() {
        f32::NEG_INFINITY
    } else if l == 0.0 {
        0.0
    } else {
        l
    }
}

/// Ranking order: larger logit first, then smaller id.
fn rank(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal).then(a.0.cmp(&b.0))
}

/// Sorts the whole row in f64 and sums it exactly enough to be the oracle of the GPU op.
pub fn top_k_ref(logits: &[f32], k: usize, temperature: f32) -> Result<TopKResult> {
    check_top_k(logits.len(), k, temperature)?;
    let mut ranked: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, canonical_logit(l))).collect();
    ranked.sort_by(rank);
    let max = ranked[0].1;
    let inv_t = f64::from(inverse_temperature(temperature));
    let sum: f64 =
        ranked.iter().map(|&(_, l)| if l == max { 1.0 } else { ((f64::from(l) - f64::from(max)) * inv_t).exp() }).sum();
    ranked.truncate(k);
    Ok(TopKResult { candidates: ranked, max, log_sum_exp: sum.ln() as f32 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjust_penalises_towards_zero_and_adds_bias() {
        let mut l = vec![2.0, -2.0, 1.0, 5.0];
        logit_adjust_ref(&mut l, &[(0, 2.0, 0.0), (1, 2.0, 0.5), (3, 1.0, -10.0), (99, 2.0, 1.0)]);
        assert_eq!(l, vec![1.0, -3.5, 1.0, -5.0]);
    }

    #[test]
    fn top_k_orders_ties_by_id_and_nan_last() {
        let l = [1.0, f32::NAN, 3.0, 3.0, -0.0, 0.0, f32::NEG_INFINITY];
        let r = top_k_ref(&l, 7, 1.0).unwrap();
        let ids: Vec<u32> = r.candidates.iter().map(|c| c.0).collect();
        assert_eq!(ids, vec![2, 3, 0, 4, 5, 1, 6]);
        assert_eq!(r.max, 3.0);
        let want = (2.0 + (-2.0f64).exp() + 2.0 * (-3.0f64).exp()).ln();
        assert!((f64::from(r.log_sum_exp) - want).abs() < 1e-6);
        let p = r.probabilities(1.0);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn k_beyond_the_vocabulary_returns_every_entry() {
        let r = top_k_ref(&[0.5], 40, 0.0).unwrap();
        assert_eq!(r.candidates, vec![(0, 0.5)]);
        assert_eq!(r.log_sum_exp, 0.0);
    }

    #[test]
    fn degenerate_rows_stay_finite() {
        let r = top_k_ref(&[f32::NAN, f32::NAN], 1, 1.0).unwrap();
        assert_eq!(r.max, f32::NEG_INFINITY);
        assert!((r.log_sum_exp - 2f32.ln()).abs() < 1e-7);
        let r = top_k_ref(&[f32::INFINITY, 1.0], 2, 1.0).unwrap();
        assert_eq!(r.log_sum_exp, 0.0);
    }

    #[test]
    fn temperature_scales_the_normaliser() {
        let r = top_k_ref(&[0.0, -1.0], 1, 0.5).unwrap();
        assert!((f64::from(r.log_sum_exp) - (1.0 + (-2.0f64).exp()).ln()).abs() < 1e-7);
    }

    #[test]
    fn rejects_bad_arguments() {
        assert_eq!(top_k_ref(&[], 1, 1.0).unwrap_err().code(), "invalid-argument");
        assert_eq!(top_k_ref(&[1.0], 0, 1.0).unwrap_err().code(), "invalid-argument");
        assert_eq!(top_k_ref(&[1.0], MAX_TOP_K + 1, 1.0).unwrap_err().code(), "invalid-argument");
        assert_eq!(top_k_ref(&[1.0], 1, f32::NAN).unwrap_err().code(), "invalid-argument");
    }
}
