//! Repetition penalties and logit bias as a short list of per-token
//! adjustments, which the GPU applies to the logits before its top-k.
//!
//! llama.cpp's penalties sampler, over the last `repeat_last_n` tokens: a seen
//! token's logit is divided by `repeat_penalty` when positive (multiplied when
//! not), then `presence_penalty + frequency_penalty * count` is subtracted.
//! One difference: llama.cpp adds the user's logit bias *before* the repeat
//! penalty scales the logit; here the bias is added after, so that one
//! multiply-add per token describes everything. The two agree whenever
//! `repeat_penalty` is 1 or the biased token was not seen.

use std::collections::BTreeMap;

use super::SamplingConfig;

/// `l' = (l > 0 ? l / penalty : l * penalty) + bias` for the logit of token `id`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogitAdjustment {
    pub id: u32,
    /// 1 leaves the logit unscaled.
    pub penalty: f32,
    pub bias: f32,
}

impl LogitAdjustment {
    /// The adjusted logit.
    pub fn apply(&self, logit: f32) -> f32 {
        let scaled = if logit > 0.0 { logit / self.penalty } else { logit * self.penalty };
        scaled + self.bias
    }
}

/// The adjustments for the next token after `history` (every token so far,
/// prompt included): one entry per affected id, sorted by id. Tokens neither
/// penalised nor biased have no entry.
pub fn adjustments(config: &SamplingConfig, history: &[u32]) -> Vec<LogitAdjustment> {
    // (penalty, bias) per id
    let mut by_id: BTreeMap<u32, (f32, f32)> = BTreeMap::new();
    let penalties_on =
        config.repeat_penalty != 1.0 || config.presence_penalty != 0.0 || config.frequency_penalty != 0.0;
    if penalties_on && config.repeat_last_n > 0 {
        let window = &history[history.len().saturating_sub(config.repeat_last_n)..];
        let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
        for &id in window {
            *counts.entry(id).or_default() += 1;
        }
        for (id, count) in counts {
            let bias = -(config.presence_penalty + config.frequency_penalty * count as f32);
            by_id.insert(id, (config.repeat_penalty, bias));
        }
    }
    for &(id, bias) in &config.logit_bias {
        by_id.entry(id).or_insert((1.0, 0.0)).1 += bias;
    }
    by_id
        .into_iter()
        .filter(|&(_, (penalty, bias))| penalty != 1.0 || bias != 0.0)
        .map(|(id, (penalty, bias))| LogitAdjustment { id, penalty, bias })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(repeat: f32, last_n: usize, presence: f32, frequency: f32) -> SamplingConfig {
        SamplingConfig {
            repeat_penalty: repeat,
            repeat_last_n: last_n,
            presence_penalty: presence,
            frequency_penalty: frequency,
            ..SamplingConfig::default()
        }
    }

    #[test]
    fn defaults_adjust_nothing() {
        assert!(adjustments(&SamplingConfig::default(), &[1, 2, 3, 3]).is_empty());
    }

    #[test]
    fn repeat_penalty_scales_away_from_zero() {
        let a = adjustments(&config(2.0, 64, 0.0, 0.0), &[5, 3, 5]);
        assert_eq!(
            a,
            vec![
                LogitAdjustment { id: 3, penalty: 2.0, bias: 0.0 },
                LogitAdjustment { id: 5, penalty: 2.0, bias: 0.0 }
            ]
        );
        assert_eq!(a[0].apply(4.0), 2.0);
        assert_eq!(a[0].apply(-4.0), -8.0);
        assert_eq!(a[0].apply(0.0), 0.0);
    }

    #[test]
    fn presence_and_frequency_count_the_window_only() {
        // Window of 3: [7, 7, 8]; the first 9 is out of it.
        let a = adjustments(&config(1.0, 3, 0.5, 0.25), &[9, 7, 7, 8]);
        assert_eq!(
            a,
            vec![
                LogitAdjustment { id: 7, penalty: 1.0, bias: -(0.5 + 0.5) },
                LogitAdjustment { id: 8, penalty: 1.0, bias: -(0.5 + 0.25) },
            ]
        );
        assert!(adjustments(&config(1.3, 0, 0.5, 0.5), &[1, 2]).is_empty(), "repeat_last_n 0 disables penalties");
    }

    #[test]
    fn logit_bias_merges_with_penalties_and_sums_duplicates() {
        let c =
            SamplingConfig { logit_bias: vec![(4, 1.0), (2, -0.5), (4, 2.0), (6, 0.0)], ..config(1.5, 64, 0.0, 0.0) };
        let a = adjustments(&c, &[2]);
        assert_eq!(
            a,
            vec![
                LogitAdjustment { id: 2, penalty: 1.5, bias: -0.5 },
                LogitAdjustment { id: 4, penalty: 1.0, bias: 3.0 },
            ]
        );
        assert_eq!(a[0].apply(1.0), 1.0 / 1.5 - 0.5);
        assert_eq!(a[1].apply(1.0), 4.0);
    }
}
