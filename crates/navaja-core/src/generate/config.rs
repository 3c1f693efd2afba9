//! [`SamplingConfig`]: the knobs of token selection, with llama.cpp's defaults
//! and the checks that keep bad values from reaching the GPU.

use crate::{NavajaError, Result};

/// Most candidates the GPU hands to the [`super::Sampler`] per step.
///
/// With `top_k` off (0) llama.cpp samples from the whole vocabulary; navaja
/// samples among the best `MAX_CANDIDATES` only. Their probabilities are still
/// normalised by the exact whole-vocabulary log-sum-exp that the GPU returns,
/// so top-p sees the true mass of each candidate; tokens past the 128th are
/// simply never drawn (with real models their total probability after top-p
/// and min-p is negligible).
pub const MAX_CANDIDATES: usize = 128;

/// How the next token is chosen. Fields that are "off" leave the
/// distribution unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingConfig {
    /// Softmax temperature; `<= 0` picks the most likely token (greedy).
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 = off.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p`; 1 = off.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one; 0 = off.
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recently seen tokens by this; 1 = off.
    pub repeat_penalty: f32,
    /// How many of the most recent tokens the penalties look at; 0 = none.
    pub repeat_last_n: usize,
    /// Subtracted once from the logit of every token seen in the window.
    pub presence_penalty: f32,
    /// Subtracted from a token's logit once per occurrence in the window.
    pub frequency_penalty: f32,
    /// Added to the logits of given tokens (`-inf` bans a token); repeated ids add up.
    pub logit_bias: Vec<(u32, f32)>,
    /// Seed of the random draw; `None` takes one from the clock (see [`super::Sampler::seed`]).
    pub seed: Option<u64>,
}

impl Default for SamplingConfig {
    /// llama.cpp's defaults (`common_params_sampling`).
    fn default() -> Self {
        SamplingConfig {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            logit_bias: Vec::new(),
            seed: None,
        }
    }
}

impl SamplingConfig {
    /// Always the most likely token: every knob off, no penalties.
    pub fn greedy() -> Self {
        SamplingConfig {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            logit_bias: Vec::new(),
            seed: Some(0),
        }
    }

    /// Whether the choice is deterministic (no draw).
    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    /// Rejects values that have no meaning (NaN, probabilities outside [0, 1],
    /// a non-positive repeat penalty, bias ids outside the vocabulary) with an
    /// `invalid-argument` error naming the field.
    pub fn validate(&self, n_vocab: usize) -> Result<()> {
        fn bad(field: &str, why: String) -> NavajaError {
            NavajaError::invalid(format!("sampling: {field} {why}"))
        }
        if !self.temperature.is_finite() {
            return Err(bad("temperature", format!("must be a finite number, got {}", self.temperature)));
        }
        for (field, v) in [("top_p", self.top_p), ("min_p", self.min_p)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(field, format!("must be between 0 and 1, got {v}")));
            }
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(bad("repeat_penalty", format!("must be a positive number, got {}", self.repeat_penalty)));
        }
        for (field, v) in [("presence_penalty", self.presence_penalty), ("frequency_penalty", self.frequency_penalty)] {
            if !v.is_finite() {
                return Err(bad(field, format!("must be a finite number, got {v}")));
            }
        }
        for &(id, bias) in &self.logit_bias {
            if id as usize >= n_vocab {
                return Err(bad("logit_bias", format!("names token {id}, but the vocabulary has {n_vocab} tokens")));
            }
            // -inf bans a token; NaN and +inf would poison the softmax.
            if bias.is_nan() || bias == f32::INFINITY {
                return Err(bad("logit_bias", format!("for token {id} must be a number or -inf, got {bias}")));
            }
        }
        Ok(())
    }

    /// How many of the best (adjusted) logits the GPU must return, sorted:
    /// 1 when greedy, else `top_k` capped at [`MAX_CANDIDATES`], or
    /// [`MAX_CANDIDATES`] when `top_k` is off.
    pub fn candidates_needed(&self) -> usize {
        if self.is_greedy() {
            1
        } else if self.top_k == 0 {
            MAX_CANDIDATES
        } else {
            self.top_k.min(MAX_CANDIDATES)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_llama_cpp() {
        let c = SamplingConfig::default();
        assert_eq!((c.temperature, c.top_k, c.top_p, c.min_p), (0.8, 40, 0.95, 0.05));
        assert_eq!((c.repeat_penalty, c.repeat_last_n, c.presence_penalty, c.frequency_penalty), (1.0, 64, 0.0, 0.0));
        assert!(c.validate(10).is_ok());
        assert_eq!(c.candidates_needed(), 40);
    }

    #[test]
    fn candidates_needed() {
        assert_eq!(SamplingConfig::greedy().candidates_needed(), 1);
        let c = |top_k| SamplingConfig { top_k, ..Default::default() };
        assert_eq!(c(0).candidates_needed(), MAX_CANDIDATES);
        assert_eq!(c(1).candidates_needed(), 1);
        assert_eq!(c(1000).candidates_needed(), MAX_CANDIDATES);
        // Greedy needs one candidate whatever top_k says.
        assert_eq!(SamplingConfig { temperature: -1.0, ..c(40) }.candidates_needed(), 1);
    }

    #[test]
    fn validation_names_the_field() {
        let cases: Vec<(SamplingConfig, &str)> = vec![
            (SamplingConfig { temperature: f32::NAN, ..Default::default() }, "temperature"),
            (SamplingConfig { temperature: f32::INFINITY, ..Default::default() }, "temperature"),
            (SamplingConfig { top_p: 1.5, ..Default::default() }, "top_p"),
            (SamplingConfig { top_p: f32::NAN, ..Default::default() }, "top_p"),
            (SamplingConfig { min_p: -0.1, ..Default::default() }, "min_p"),
            (SamplingConfig { repeat_penalty: 0.0, ..Default::default() }, "repeat_penalty"),
            (SamplingConfig { repeat_penalty: f32::NAN, ..Default::default() }, "repeat_penalty"),
            (SamplingConfig { presence_penalty: f32::NAN, ..Default::default() }, "presence_penalty"),
            (SamplingConfig { frequency_penalty: f32::INFINITY, ..Default::default() }, "frequency_penalty"),
            (SamplingConfig { logit_bias: vec![(10, 1.0)], ..Default::default() }, "logit_bias"),
            (SamplingConfig { logit_bias: vec![(1, f32::NAN)], ..Default::default() }, "logit_bias"),
        ];
        for (c, field) in cases {
            let err = c.validate(10).unwrap_err();
            assert_eq!(err.code(), "invalid-argument");
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
        // Negative temperature means greedy; -inf bias bans a token; negative penalties reward.
        let ok = SamplingConfig {
            temperature: -1.0,
            logit_bias: vec![(9, f32::NEG_INFINITY)],
            presence_penalty: -0.5,
            top_p: 0.0,
            min_p: 1.0,
            ..Default::default()
        };
        ok.validate(10).unwrap();
    }
}
