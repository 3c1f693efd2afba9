//! [`Sampler`]: picks the next token among the GPU's best candidates, with
//! llama.cpp's chain (top-k, top-p, min-p, temperature, draw) and a seeded RNG.

use super::{Rng, SamplingConfig};
use crate::{NavajaError, Result};

/// Token selection for one generation; holds the RNG, so draws continue
/// from step to step and the same seed with the same inputs gives the same tokens.
#[derive(Debug, Clone)]
pub struct Sampler {
    config: SamplingConfig,
    rng: Rng,
    seed: u64,
    /// (id, adjusted logit) of the surviving candidates, reused between steps.
    kept: Vec<(u32, f32)>,
}

impl Sampler {
    /// Checks the values of `config` (bias ids are checked against the
    /// vocabulary by [`SamplingConfig::validate`], which the engine calls with
    /// its vocabulary size) and seeds the RNG, from the clock when `seed` is `None`.
    pub fn new(config: SamplingConfig) -> Result<Sampler> {
        config.validate(usize::MAX)?;
        let seed = config.seed.unwrap_or_else(Rng::entropy_seed);
        Ok(Sampler { config, rng: Rng::new(seed), seed, kept: Vec::new() })
    }

    /// The seed in use: pass it back as `SamplingConfig::seed` to replay a run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn config(&self) -> &SamplingConfig {
        &self.config
    }

    /// Picks a token.
    ///
    /// - `candidates`: `(id, adjusted logit)`, the best logits after
    ///   [`super::adjustments`], sorted by logit, highest first (ties in the
    ///   GPU's order, which decides them). Unsorted input is sorted here.
    ///   NaN and `-inf` entries are ignored.
    /// - `max_logit`: the largest adjusted logit of the whole vocabulary.
    /// - `log_sum_exp`: `ln Σ exp((l - max_logit) / T)` over the whole
    ///   vocabulary, T the configured temperature.
    ///
    /// Greedy returns the first candidate. Otherwise, as llama.cpp: keep the
    /// `top_k` first; keep the shortest prefix whose probability reaches
    /// `top_p`; drop those below `min_p` times the best one; then draw from
    /// the softmax of the survivors at temperature T. top-p and min-p measure
    /// the temperature-1 distribution over the `top_k` candidates, exactly as
    /// llama.cpp. With `top_k` off the candidates are only the best
    /// [`super::MAX_CANDIDATES`] of the vocabulary, so top-p measures their
    /// probabilities in the whole vocabulary, using `log_sum_exp`: that is the
    /// temperature-T distribution (the normaliser the GPU returns), the same
    /// as llama.cpp at T = 1.
    ///
    /// When no candidate has a usable logit (all NaN or `-inf`, which a
    /// correct caller never sends) this returns the first candidate's id, or
    /// 0 for an empty list; [`Sampler::try_sample`] makes that an error.
    pub fn sample(&mut self, candidates: &[(u32, f32)], max_logit: f32, log_sum_exp: f32) -> u32 {
        match self.try_sample(candidates, max_logit, log_sum_exp) {
            Ok(id) => id,
            Err(_) => candidates.first().map_or(0, |c| c.0),
        }
    }

    /// [`Sampler::sample`], with an `invalid-argument` error when no
    /// candidate has a usable logit.
    pub fn try_sample(&mut self, candidates: &[(u32, f32)], max_logit: f32, log_sum_exp: f32) -> Result<u32> {
        self.kept.clear();
        self.kept.extend(candidates.iter().copied().filter(|&(_, l)| !l.is_nan() && l != f32::NEG_INFINITY));
        if self.kept.is_empty() {
            return Err(NavajaError::invalid(format!(
                "sampling: none of the {} candidates has a finite logit",
                candidates.len()
            )));
        }
        if !self.kept.windows(2).all(|w| w[0].1 >= w[1].1) {
            // Stable: equal logits keep the caller's order.
            self.kept.sort_by(|a, b| b.1.total_cmp(&a.1));
        }
        if self.config.is_greedy() {
            return Ok(self.kept[0].0);
        }
        let c = &self.config;
        let temperature = f64::from(c.temperature);
        if c.top_k > 0 {
            self.kept.truncate(c.top_k);
        }
        let top = f64::from(self.kept[0].1);
        if top == f64::INFINITY {
            // Infinitely more likely than any finite logit; no probabilities to compute.
            return Ok(self.kept[0].0);
        }

        if c.top_p < 1.0 {
            // ln of the normaliser of exp((l - top) / t) over the set top-p measures.
            let (t, log_norm) = if c.top_k > 0 {
                (1.0, log_sum_exp_of(&self.kept, top, 1.0))
            } else {
                // The whole vocabulary, shifted from the GPU's max to the best candidate;
                // never below what the candidates alone sum to (rounding, or a bad argument).
                let own = log_sum_exp_of(&self.kept, top, temperature);
                let shift = (f64::from(max_logit) - top) / temperature;
                let whole = f64::from(log_sum_exp) + shift;
                (temperature, if whole.is_finite() { whole.max(own) } else { own })
            };
            let mut cumulative = 0.0;
            let mut keep = self.kept.len();
            for (i, &(_, l)) in self.kept.iter().enumerate() {
                cumulative += ((f64::from(l) - top) / t - log_norm).exp();
                if cumulative >= f64::from(c.top_p) {
                    keep = i + 1;
                    break;
                }
            }
            self.kept.truncate(keep);
        }

        if c.min_p > 0.0 {
            // p_i >= min_p * p_max  <=>  l_i >= l_max + ln(min_p) (temperature 1); the best always stays.
            let threshold = top + f64::from(c.min_p).ln();
            let keep = self.kept.iter().take_while(|&&(_, l)| f64::from(l) >= threshold).count().max(1);
            self.kept.truncate(keep);
        }

        let total: f64 = self.kept.iter().map(|&(_, l)| ((f64::from(l) - top) / temperature).exp()).sum();
        let target = self.rng.next_f64() * total;
        let mut cumulative = 0.0;
        for &(id, l) in &self.kept {
            cumulative += ((f64::from(l) - top) / temperature).exp();
            if target < cumulative {
                return Ok(id);
            }
        }
        // Only reached through rounding at the very end of the range.
        Ok(self.kept[self.kept.len() - 1].0)
    }
}

/// `ln Σ exp((l - top) / t)` over `items` (top is their largest logit, so the sum is >= 1).
fn log_sum_exp_of(items: &[(u32, f32)], top: f64, t: f64) -> f64 {
    items.iter().map(|&(_, l)| ((f64::from(l) - top) / t).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(config: SamplingConfig) -> Sampler {
        Sampler::new(SamplingConfig { seed: Some(1234), ..config }).unwrap()
    }

    /// Plain sampling: temperature 1, every filter off.
    fn plain() -> SamplingConfig {
        SamplingConfig { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, ..SamplingConfig::default() }
    }

    /// Candidates with logits ln(weights) and the whole-vocabulary normaliser
    /// of exactly those candidates at temperature 1.
    fn from_weights(weights: &[f64]) -> (Vec<(u32, f32)>, f32, f32) {
        let c: Vec<(u32, f32)> = weights.iter().enumerate().map(|(i, w)| (i as u32, w.ln() as f32)).collect();
        let max = c[0].1;
        let lse = c.iter().map(|&(_, l)| f64::from(l - max).exp()).sum::<f64>().ln() as f32;
        (c, max, lse)
    }

    /// Frequencies of each id over `n` draws.
    fn histogram(s: &mut Sampler, c: &[(u32, f32)], max: f32, lse: f32, n: usize, ids: usize) -> Vec<f64> {
        let mut counts = vec![0usize; ids];
        for _ in 0..n {
            counts[s.sample(c, max, lse) as usize] += 1;
        }
        counts.iter().map(|&k| k as f64 / n as f64).collect()
    }

    fn assert_close(got: &[f64], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= tol, "id {i}: frequency {g} vs probability {w} (all: {got:?} vs {want:?})");
        }
    }

    #[test]
    fn greedy_takes_the_first_and_the_first_of_ties() {
        let mut s = sampler(SamplingConfig::greedy());
        assert_eq!(s.sample(&[(7, 3.0), (2, 1.0)], 3.0, 0.0), 7);
        assert_eq!(s.sample(&[(9, 2.0), (4, 2.0), (1, 0.5)], 2.0, 0.0), 9);
        // Unsorted input is sorted first (stably).
        assert_eq!(s.sample(&[(1, 0.5), (9, 2.0), (4, 2.0)], 2.0, 0.0), 9);
        // NaN and -inf are ignored; nothing usable is an error for try_sample.
        assert_eq!(s.sample(&[(3, f32::NAN), (5, -1.0)], -1.0, 0.0), 5);
        let unusable = [(3, f32::NAN), (5, f32::NEG_INFINITY)];
        assert!(s.try_sample(&unusable, 0.0, 0.0).is_err());
        assert!(s.try_sample(&[], 0.0, 0.0).is_err());
        assert_eq!(s.sample(&unusable, 0.0, 0.0), 3);
        assert_eq!(s.sample(&[], 0.0, 0.0), 0);
        // The same for a sampling (non-greedy) configuration.
        let mut t = sampler(plain());
        assert!(t.try_sample(&unusable, 0.0, 0.0).is_err());
        assert_eq!(t.sample(&[(4, f32::NEG_INFINITY)], 0.0, 0.0), 4);
        assert_eq!(t.sample(&[(6, f32::INFINITY), (2, 1.0)], f32::INFINITY, 0.0), 6);
    }

    #[test]
    fn plain_sampling_follows_the_softmax() {
        let (c, max, lse) = from_weights(&[0.5, 0.3, 0.15, 0.05]);
        let mut s = sampler(plain());
        assert_close(&histogram(&mut s, &c, max, lse, 40_000, 4), &[0.5, 0.3, 0.15, 0.05], 0.01);
    }

    #[test]
    fn temperature_sharpens_and_flattens() {
        let (c, max, _) = from_weights(&[0.6, 0.3, 0.1]);
        for t in [0.5f64, 2.0] {
            let w: Vec<f64> = [0.6f64, 0.3, 0.1].iter().map(|p| p.powf(1.0 / t)).collect();
            let sum: f64 = w.iter().sum();
            let want: Vec<f64> = w.iter().map(|x| x / sum).collect();
            let lse = (sum / 0.6f64.powf(1.0 / t)).ln() as f32;
            let mut s = sampler(SamplingConfig { temperature: t as f32, ..plain() });
            assert_close(&histogram(&mut s, &c, max, lse, 40_000, 3), &want, 0.01);
        }
    }

    #[test]
    fn top_k_keeps_the_first_k() {
        let (c, max, lse) = from_weights(&[0.4, 0.3, 0.2, 0.1]);
        let mut s = sampler(SamplingConfig { top_k: 2, ..plain() });
        assert_close(&histogram(&mut s, &c, max, lse, 40_000, 4), &[4.0 / 7.0, 3.0 / 7.0, 0.0, 0.0], 0.01);
        // top_k = 1 is greedy whatever the temperature.
        let mut s = sampler(SamplingConfig { top_k: 1, temperature: 5.0, ..plain() });
        assert_eq!(histogram(&mut s, &c, max, lse, 1000, 4), vec![1.0, 0.0, 0.0, 0.0]);
        // Ties at the boundary: the caller's order decides.
        let ties = [(5, 1.0), (3, 1.0), (8, 1.0)];
        let mut s = sampler(SamplingConfig { top_k: 2, ..plain() });
        for _ in 0..200 {
            assert_ne!(s.sample(&ties, 1.0, 0.0), 8);
        }
    }

    #[test]
    fn top_p_keeps_the_shortest_prefix_reaching_p() {
        // Four equal candidates, top_k 4: each has probability exactly 0.25.
        let c: Vec<(u32, f32)> = (0..4).map(|i| (i, 0.0)).collect();
        let lse = 4f32.ln();
        let reached = |top_p: f32| {
            let mut s = sampler(SamplingConfig { top_k: 4, top_p, ..plain() });
            let h = histogram(&mut s, &c, 0.0, lse, 4000, 4);
            h.iter().filter(|&&f| f > 0.0).count()
        };
        assert_eq!(reached(0.0), 1, "top_p 0 keeps the best only");
        assert_eq!(reached(0.25), 1);
        assert_eq!(reached(0.5), 2, "a prefix whose mass equals p exactly is enough");
        assert_eq!(reached(0.500_001), 3);
        assert_eq!(reached(0.99), 4);
        assert_eq!(reached(1.0), 4);
    }

    #[test]
    fn top_p_without_top_k_uses_the_whole_vocabulary_mass() {
        // Two candidates of probability 0.25 each in the whole vocabulary (lse = ln 4 at T = 1).
        let c = [(10, 0.0), (11, 0.0)];
        let lse = 4f32.ln();
        let count = |top_p: f32| {
            let mut s = sampler(SamplingConfig { top_p, ..plain() });
            let h = histogram(&mut s, &c, 0.0, lse, 2000, 12);
            h.iter().filter(|&&f| f > 0.0).count()
        };
        assert_eq!(count(0.2), 1);
        assert_eq!(count(0.3), 2);
        // The candidates hold only half the mass: top_p 0.9 cannot be reached, all are kept.
        assert_eq!(count(0.9), 2);
        // The vocabulary's best logit (1.0) is not among the candidates: the
        // normaliser is relative to it. Vocabulary {1, 0, 0}: each candidate has
        // p = e^-1 / (1 + 2 e^-1) ~ 0.212, so top_p 0.2 keeps one.
        let lse_shifted = (1.0 + 2.0 * (-1.0f64).exp()).ln() as f32;
        let mut s = sampler(SamplingConfig { top_p: 0.2, ..plain() });
        let h = histogram(&mut s, &c, 1.0, lse_shifted, 1000, 12);
        assert_eq!(h.iter().filter(|&&f| f > 0.0).count(), 1);
    }

    #[test]
    fn min_p_drops_the_unlikely() {
        // Probabilities relative to the best: 1, 0.5, 0.1.
        let (c, max, lse) = from_weights(&[1.0, 0.5, 0.1]);
        let mut s = sampler(SamplingConfig { min_p: 0.2, ..plain() });
        assert_close(&histogram(&mut s, &c, max, lse, 40_000, 3), &[2.0 / 3.0, 1.0 / 3.0, 0.0], 0.01);
        // min_p 1 keeps only the best (and ties with it).
        let mut s = sampler(SamplingConfig { min_p: 1.0, ..plain() });
        let ties = [(0, 2.0), (1, 2.0), (2, 1.0)];
        let h = histogram(&mut s, &ties, 2.0, 0.0, 4000, 3);
        assert!(h[0] > 0.4 && h[1] > 0.4 && h[2] == 0.0, "{h:?}");
    }

    #[test]
    fn the_chain_runs_in_llama_cpp_order() {
        // top_p is measured at temperature 1 (before temperature): with weights
        // 0.5/0.3/0.2 and top_p 0.75 the first two survive (0.8 >= 0.75), though
        // at temperature 3 they would hold only 0.72 and all three would stay.
        let (c, max, lse) = from_weights(&[0.5, 0.3, 0.2]);
        let mut s = sampler(SamplingConfig { top_k: 3, top_p: 0.75, temperature: 3.0, ..plain() });
        let h = histogram(&mut s, &c, max, lse, 40_000, 3);
        let w = [0.5f64.powf(1.0 / 3.0), 0.3f64.powf(1.0 / 3.0)];
        assert_close(&h, &[w[0] / (w[0] + w[1]), w[1] / (w[0] + w[1]), 0.0], 0.01);
    }

    #[test]
    fn seeds_reproduce() {
        let (c, max, lse) = from_weights(&[0.3, 0.3, 0.2, 0.2]);
        let run = |s: &mut Sampler| (0..200).map(|_| s.sample(&c, max, lse)).collect::<Vec<_>>();
        let mut a = sampler(plain());
        let mut b = sampler(plain());
        assert_eq!(run(&mut a), run(&mut b));
        let mut other = Sampler::new(SamplingConfig { seed: Some(1), ..plain() }).unwrap();
        assert_ne!(run(&mut sampler(plain())), run(&mut other));
        // A clock seed is recorded and replays.
        let mut clock = Sampler::new(SamplingConfig { seed: None, ..plain() }).unwrap();
        let mut replay = Sampler::new(SamplingConfig { seed: Some(clock.seed()), ..plain() }).unwrap();
        assert_eq!(run(&mut clock), run(&mut replay));
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(Sampler::new(SamplingConfig { top_p: 2.0, ..plain() }).is_err());
    }
}
