//! The top-k reduction of a row of logits on the CPU: the same result as
//! [`crate::ops::logits::top_k_ref`] (same ranking, max and normaliser), but
//! selecting the k best in linear time instead of sorting the vocabulary.

use std::cmp::Ordering;

use crate::Result;
use crate::ops::logits::{TopKResult, canonical_logit, check_top_k, inverse_temperature};

/// Larger logit first, then smaller id (the order of `top_k_ref`).
fn rank(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal).then(a.0.cmp(&b.0))
}

pub(crate) fn top_k(logits: &[f32], k: usize, temperature: f32) -> Result<TopKResult> {
    check_top_k(logits.len(), k, temperature)?;
    let mut ranked: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, canonical_logit(l))).collect();
    let max = ranked.iter().fold(f32::NEG_INFINITY, |m, c| m.max(c.1));
    let inv_t = f64::from(inverse_temperature(temperature));
    let sum: f64 =
        ranked.iter().map(|&(_, l)| if l == max { 1.0 } else { ((f64::from(l) - f64::from(max)) * inv_t).exp() }).sum();
    if k < ranked.len() {
        ranked.select_nth_unstable_by(k - 1, rank);
        ranked.truncate(k);
    }
    ranked.sort_by(rank);
    Ok(TopKResult { candidates: ranked, max, log_sum_exp: sum.ln() as f32 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::logits::top_k_ref;

    #[test]
    fn agrees_with_the_reference() {
        let rows: [&[f32]; 3] = [
            &[1.0, f32::NAN, 3.0, 3.0, -0.0, 0.0, f32::NEG_INFINITY],
            &[f32::NAN, f32::NAN],
            &[0.5, 0.25, 0.5, -1.0, 2.0, 0.25],
        ];
        for row in rows {
            for k in 1..=row.len() + 1 {
                for t in [0.0, 0.7, 1.0] {
                    let (a, b) = (top_k(row, k, t).unwrap(), top_k_ref(row, k, t).unwrap());
                    assert_eq!(a.candidates, b.candidates, "{row:?} k {k}");
                    assert_eq!(a.max, b.max);
                    assert!((a.log_sum_exp - b.log_sum_exp).abs() < 1e-6);
                }
            }
        }
        assert!(top_k(&[1.0], 0, 1.0).is_err());
    }
}
