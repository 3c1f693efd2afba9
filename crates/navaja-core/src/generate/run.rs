//! The generation loop, shared by every backend: prompt reuse, sampling,
//! stop conditions and streaming over a [`TokenModel`] (a GPU session, or
//! the CPU backend's session).

use super::{FinishReason, Sampler, SamplingConfig, StopMatcher, adjustments};
use crate::ops::logits::TopKResult;
use crate::tokenizer::{StreamDecoder, Tokenizer};
use crate::{NavajaError, Result};
use serde::Serialize;

/// What to generate and when to stop.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampling: SamplingConfig,
    /// Generation stops before any of these strings, which are not returned.
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens (benchmarks).
    pub ignore_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { max_tokens: 256, sampling: SamplingConfig::default(), stop: Vec::new(), ignore_eos: false }
    }
}

/// Milliseconds spent, counted by the caller's clock.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Tokens of the prompt that were computed (the rest came from the cache).
    pub prefill_tokens: usize,
    pub prefill_ms: f64,
    /// Tokens generated after the first (each one a decode step).
    pub decode_tokens: usize,
    pub decode_ms: f64,
}

impl Timings {
    pub fn prefill_tokens_per_s(&self) -> f64 {
        per_second(self.prefill_tokens, self.prefill_ms)
    }

    pub fn decode_tokens_per_s(&self) -> f64 {
        per_second(self.decode_tokens, self.decode_ms)
    }
}

fn per_second(n: usize, ms: f64) -> f64 {
    if ms > 0.0 { n as f64 * 1000.0 / ms } else { 0.0 }
}

#[derive(Debug, Clone, Serialize)]
pub struct Generation {
    /// Generated token ids (an end-of-generation token included when one ended it).
    pub ids: Vec<u32>,
    /// Generated text, cut before a stop string.
    pub text: String,
    pub finish_reason: FinishReason,
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values were reused from the session's cache.
    pub cached_tokens: usize,
    pub seed: u64,
    pub timings: Timings,
}

/// Receives streamed text; returning false aborts the generation.
pub type OnText<'a> = &'a mut dyn FnMut(&str) -> bool;

/// A clock in milliseconds: `Instant` natively, `performance.now()` in a browser.
pub type Clock<'a> = &'a dyn Fn() -> f64;

/// How the logits of the last token fed are reduced for the sampler.
#[derive(Debug, Clone, Default)]
pub struct Pick {
    /// Candidates to return (1 for greedy), at most [`crate::ops::logits::MAX_TOP_K`].
    pub k: u32,
    /// Temperature for the returned log-sum-exp (<= 0: 1).
    pub temperature: f32,
    /// (id, penalty, bias) applied to the logits before the reduction.
    pub adjustments: Vec<(u32, f32, f32)>,
}

impl Pick {
    pub fn greedy() -> Pick {
        Pick { k: 1, temperature: 0.0, adjustments: Vec::new() }
    }
}

/// A sequence with a KV cache that tokens can be fed into: what the
/// generation loop needs of a backend.
#[allow(async_fn_in_trait)] // used through generics only, never as `dyn` or across threads
pub trait TokenModel {
    /// Tokens in the cache, in order.
    fn tokens(&self) -> &[u32];
    /// Most positions the cache holds.
    fn capacity(&self) -> usize;
    fn vocab_size(&self) -> usize;
    /// Keeps the first `len` cached tokens (or fewer, where the cache cannot
    /// cut there); returns how many it kept.
    fn truncate(&mut self, len: usize) -> usize;
    /// Runs `ids` after the cached tokens and reduces the logits after the last one.
    async fn feed(&mut self, ids: &[u32], pick: &Pick) -> Result<TopKResult>;
}

/// Continues `prompt` (token ids, special tokens included): reuses the
/// longest prefix already in the cache, prefills the rest, then samples
/// until an end-of-generation token, a stop string or `max_tokens`.
pub async fn generate<M: TokenModel>(
    model: &mut M,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    opts: &GenerateOptions,
    on_text: OnText<'_>,
    clock: Clock<'_>,
) -> Result<Generation> {
    if prompt.is_empty() {
        return Err(NavajaError::invalid("the prompt has no tokens"));
    }
    opts.sampling.validate(model.vocab_size())?;
    let mut sampler = Sampler::new(opts.sampling.clone())?;
    let greedy = opts.sampling.temperature <= 0.0;

    // Reuse the cached prefix; at least the last prompt token must run to
    // give the logits of the first new token.
    let common = model.tokens().iter().zip(prompt).take_while(|(a, b)| a == b).count();
    let reuse = model.truncate(common.min(prompt.len() - 1));
    let to_prefill = &prompt[reuse..];
    if model.tokens().len() + to_prefill.len() + 1 > model.capacity() {
        return Err(NavajaError::ContextOverflow(format!(
            "the prompt has {} tokens; the session holds {}",
            prompt.len(),
            model.capacity()
        )));
    }

    let mut timings = Timings { prefill_tokens: to_prefill.len(), ..Timings::default() };
    // Penalties look at the context as it will be once `new` is in the
    // cache: the logits being reduced are those after the last new token.
    let pick = |model: &M, new: &[u32]| {
        let history: Vec<u32> = model.tokens().iter().chain(new).copied().collect();
        Pick {
            k: opts.sampling.candidates_needed() as u32,
            temperature: if greedy { 0.0 } else { opts.sampling.temperature },
            adjustments: adjustments(&opts.sampling, &history).into_iter().map(|a| (a.id, a.penalty, a.bias)).collect(),
        }
    };
    let start = clock();
    let first_pick = pick(model, to_prefill);
    let mut top: TopKResult = model.feed(to_prefill, &first_pick).await?;
    timings.prefill_ms = clock() - start;

    let mut decoder = StreamDecoder::new(tokenizer);
    let mut stops = StopMatcher::new(opts.stop.clone());
    let mut ids = Vec::new();
    let mut text = String::new();
    let decode_start = clock();
    let mut stopped_by_string = false;
    let finish_reason = loop {
        let token = sampler.sample(&top.candidates, top.max, top.log_sum_exp);
        ids.push(token);
        if !opts.ignore_eos && tokenizer.is_eog(token) {
            break FinishReason::Stop;
        }
        let outcome = stops.push(&decoder.push(token)?);
        text.push_str(&outcome.emit);
        if outcome.stopped {
            stopped_by_string = true;
            if !outcome.emit.is_empty() {
                on_text(&outcome.emit);
            }
            break FinishReason::Stop;
        }
        if !outcome.emit.is_empty() && !on_text(&outcome.emit) {
            break FinishReason::Aborted;
        }
        if ids.len() >= opts.max_tokens || model.tokens().len() + 1 >= model.capacity() {
            break FinishReason::Length;
        }
        let next_pick = pick(model, &[token]);
        top = model.feed(&[token], &next_pick).await?;
        timings.decode_tokens += 1;
    };
    timings.decode_ms = clock() - decode_start;
    if !stopped_by_string {
        // Flush what the UTF-8 decoder and the stop matcher held back.
        let outcome = stops.push(&decoder.finish());
        let mut tail = outcome.emit;
        if !outcome.stopped {
            tail.push_str(&stops.finish());
        }
        if !tail.is_empty() {
            text.push_str(&tail);
            on_text(&tail);
        }
    }
    Ok(Generation {
        ids,
        text,
        finish_reason,
        prompt_tokens: prompt.len(),
        cached_tokens: reuse,
        seed: sampler.seed(),
        timings,
    })
}
