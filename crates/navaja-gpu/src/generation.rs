//! Text generation over a [`Session`]: prompt reuse, sampling, stop
//! conditions, streaming, and multi-turn chat through the model's template.
//!
//! The loop per token: the GPU applies the penalties and biases the sampler
//! asks for, reduces the logits to the candidates it needs, and the host
//! draws one; the token then goes back in as the next one-token step.

use navaja_core::chat::{ChatMessage, ChatTemplate, RenderOptions};
use navaja_core::generate::{FinishReason, Sampler, SamplingConfig, StopMatcher, adjustments};
use navaja_core::ops::logits::TopKResult;
use navaja_core::tokenizer::{StreamDecoder, Tokenizer};
use navaja_core::{NavajaError, Result};
use serde::Serialize;

use crate::session::{Pick, Session};

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

impl Session {
    /// Continues `prompt` (token ids, special tokens included): reuses the
    /// longest prefix already in the cache, prefills the rest, then samples
    /// until an end-of-generation token, a stop string or `max_tokens`.
    pub async fn generate(
        &mut self,
        tokenizer: &Tokenizer,
        prompt: &[u32],
        opts: &GenerateOptions,
        on_text: OnText<'_>,
        clock: Clock<'_>,
    ) -> Result<Generation> {
        if prompt.is_empty() {
            return Err(NavajaError::invalid("the prompt has no tokens"));
        }
        let vocab = self.model().spec().vocab_size;
        opts.sampling.validate(vocab)?;
        let mut sampler = Sampler::new(opts.sampling.clone())?;
        let greedy = opts.sampling.temperature <= 0.0;

        // Reuse the cached prefix; at least the last prompt token must run to
        // give the logits of the first new token.
        let common = self.tokens().iter().zip(prompt).take_while(|(a, b)| a == b).count();
        let reuse = self.truncate(common.min(prompt.len() - 1));
        let to_prefill = &prompt[reuse..];
        if self.tokens().len() + to_prefill.len() + 1 > self.capacity() {
            return Err(NavajaError::ContextOverflow(format!(
                "the prompt has {} tokens; the session holds {}",
                prompt.len(),
                self.capacity()
            )));
        }

        let mut timings = Timings { prefill_tokens: to_prefill.len(), ..Timings::default() };
        // Penalties look at the context as it will be once `new` is in the
        // cache: the logits being reduced are those after the last new token.
        let pick = |session: &Session, new: &[u32]| {
            let history: Vec<u32> = session.tokens().iter().chain(new).copied().collect();
            Pick {
                k: opts.sampling.candidates_needed() as u32,
                temperature: if greedy { 0.0 } else { opts.sampling.temperature },
                adjustments: adjustments(&opts.sampling, &history)
                    .into_iter()
                    .map(|a| (a.id, a.penalty, a.bias))
                    .collect(),
            }
        };
        let start = clock();
        let mut top: TopKResult = self.feed(to_prefill, &pick(self, to_prefill)).await?;
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
            if ids.len() >= opts.max_tokens || self.tokens().len() + 1 >= self.capacity() {
                break FinishReason::Length;
            }
            top = self.feed(&[token], &pick(self, &[token])).await?;
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
}

/// A conversation: its messages and the template that renders them. The
/// session's cache keeps the rendered conversation, so each turn prefills
/// only the new message.
pub struct Chat {
    template: ChatTemplate,
    messages: Vec<ChatMessage>,
}

impl Chat {
    pub fn new(template: ChatTemplate, system: Option<&str>) -> Chat {
        Chat { template, messages: system.map(|s| vec![ChatMessage::system(s)]).unwrap_or_default() }
    }

    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    /// Renders the conversation plus the assistant header, as token ids.
    pub fn prompt_ids(&self, tokenizer: &Tokenizer) -> Result<Vec<u32>> {
        chat_prompt_ids(&self.template, &self.messages, tokenizer)
    }

    /// Adds `user` to the conversation and generates the reply, which is
    /// appended as the assistant's message (unless generation failed).
    pub async fn reply(
        &mut self,
        session: &mut Session,
        tokenizer: &Tokenizer,
        user: &str,
        opts: &GenerateOptions,
        on_text: OnText<'_>,
        clock: Clock<'_>,
    ) -> Result<Generation> {
        self.messages.push(ChatMessage::user(user));
        let prompt = match self.prompt_ids(tokenizer) {
            Ok(p) => p,
            Err(e) => {
                self.messages.pop();
                return Err(e);
            }
        };
        match session.generate(tokenizer, &prompt, opts, on_text, clock).await {
            Ok(g) => {
                self.messages.push(ChatMessage::assistant(g.text.trim()));
                Ok(g)
            }
            Err(e) => {
                self.messages.pop();
                Err(e)
            }
        }
    }
}

/// Renders `messages` through `template`, followed by the assistant's
/// header, as the token ids a reply continues (what a stateless chat API,
/// which gets the whole conversation each time, feeds to [`Session::generate`]).
pub fn chat_prompt_ids(template: &ChatTemplate, messages: &[ChatMessage], tokenizer: &Tokenizer) -> Result<Vec<u32>> {
    let text = template.render(messages, &RenderOptions { add_generation_prompt: true, ..Default::default() })?;
    // Templates that print the BOS text themselves must not get a second one.
    let template_has_bos =
        tokenizer.bos().and_then(|b| tokenizer.token_text(b).ok()).is_some_and(|b| text.starts_with(b));
    tokenizer.encode(&text, !template_has_bos, true)
}
