//! Generation pieces working together on a tiny random model: the CPU
//! reference's logits, the adjustments, the top candidates the GPU would
//! return, the seeded sampler, streamed decoding and stop strings.

use navaja_core::generate::{FinishReason, Sampler, SamplingConfig, StopMatcher, adjustments};
use navaja_core::gguf::GgufHeader;
use navaja_core::reference::CpuModel;
use navaja_core::testing::{TinyDecoder, tiny_decoder_gguf};
use navaja_core::tokenizer::{StreamDecoder, Tokenizer};

fn tiny() -> (CpuModel, Tokenizer) {
    let file = tiny_decoder_gguf(&TinyDecoder { seed: 3, ..TinyDecoder::default() }).unwrap();
    let tokenizer = Tokenizer::from_gguf(&GgufHeader::parse(&file).unwrap().metadata).unwrap();
    (CpuModel::from_gguf(&file).unwrap(), tokenizer)
}

/// What the GPU returns: the best `n` logits (ties by smaller id), the max,
/// and ln Σ exp((l - max) / T) over the whole row (T = 1 when greedy).
fn top_candidates(logits: &[f32], n: usize, temperature: f32) -> (Vec<(u32, f32)>, f32, f32) {
    let mut all: Vec<(u32, f32)> = logits.iter().copied().enumerate().map(|(i, l)| (i as u32, l)).collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let max = all[0].1;
    let t = if temperature > 0.0 { f64::from(temperature) } else { 1.0 };
    let lse = logits.iter().map(|&l| ((f64::from(l) - f64::from(max)) / t).exp()).sum::<f64>().ln();
    all.truncate(n);
    (all, max, lse as f32)
}

/// Generates `n` tokens after `prompt` with `config`, the way the engine does.
fn generate(model: &CpuModel, prompt: &[u32], n: usize, config: &SamplingConfig) -> (Vec<u32>, u64) {
    config.validate(model.spec().vocab_size).unwrap();
    let mut sampler = Sampler::new(config.clone()).unwrap();
    let mut session = model.session();
    let mut history = prompt.to_vec();
    let mut logits = session.forward(prompt).unwrap().pop().unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        for a in adjustments(config, &history) {
            logits[a.id as usize] = a.apply(logits[a.id as usize]);
        }
        let (candidates, max, lse) = top_candidates(&logits, config.candidates_needed(), config.temperature);
        let token = sampler.sample(&candidates, max, lse);
        out.push(token);
        history.push(token);
        logits = session.forward(&[token]).unwrap().pop().unwrap();
    }
    (out, sampler.seed())
}

#[test]
fn greedy_sampling_is_the_argmax() {
    let (model, _) = tiny();
    let prompt = [256, 10, 20, 30];
    let (tokens, _) = generate(&model, &prompt, 12, &SamplingConfig::greedy());
    assert_eq!(tokens, model.generate_greedy(&prompt, 12).unwrap());
}

#[test]
fn a_seed_reproduces_a_run() {
    let (model, _) = tiny();
    let prompt = [256, 10, 20, 30];
    let config = SamplingConfig { temperature: 1.5, top_k: 0, seed: Some(42), ..SamplingConfig::default() };
    let (a, seed) = generate(&model, &prompt, 24, &config);
    assert_eq!(seed, 42);
    assert_eq!(a, generate(&model, &prompt, 24, &config).0);
    let (b, _) = generate(&model, &prompt, 24, &SamplingConfig { seed: Some(43), ..config.clone() });
    assert_ne!(a, b, "another seed should change a 24-token run at temperature 1.5");
    // Without a seed, the recorded one replays the run.
    let (c, seed) = generate(&model, &prompt, 24, &SamplingConfig { seed: None, ..config.clone() });
    assert_eq!(c, generate(&model, &prompt, 24, &SamplingConfig { seed: Some(seed), ..config }).0);
}

#[test]
fn bias_bans_and_penalties_discourage_repeats() {
    let (model, _) = tiny();
    let prompt = [256, 10, 20, 30];
    let greedy = model.generate_greedy(&prompt, 16).unwrap();
    // Ban every token greedy decoding chose: none of them can appear.
    let mut banned: Vec<(u32, f32)> = greedy.iter().map(|&t| (t, f32::NEG_INFINITY)).collect();
    banned.dedup();
    let config = SamplingConfig { logit_bias: banned.clone(), ..SamplingConfig::greedy() };
    let (tokens, _) = generate(&model, &prompt, 16, &config);
    assert!(tokens.iter().all(|t| !banned.iter().any(|b| b.0 == *t)), "{tokens:?} uses a banned token");
    // A huge presence penalty over a long window: greedy never repeats a token.
    let config = SamplingConfig { presence_penalty: 1e4, repeat_last_n: 1000, ..SamplingConfig::greedy() };
    let (tokens, _) = generate(&model, &prompt, 30, &config);
    let mut seen = prompt.to_vec();
    for t in tokens {
        assert!(!seen.contains(&t), "token {t} repeated");
        seen.push(t);
    }
}

#[test]
fn stop_strings_cut_streamed_text() {
    let (_, tokenizer) = tiny();
    let ids = tokenizer.encode("a tiny story. THE END and more", false, false).unwrap();
    assert!(ids.len() > 10, "the test text should span many tokens");
    let mut decoder = StreamDecoder::new(&tokenizer);
    let mut stops = StopMatcher::new(vec!["THE END".into(), "never".into()]);
    let mut shown = String::new();
    let mut reason = FinishReason::Length;
    for &id in &ids {
        let outcome = stops.push(&decoder.push(id).unwrap());
        shown.push_str(&outcome.emit);
        if outcome.stopped {
            reason = FinishReason::Stop;
            break;
        }
    }
    assert_eq!(shown, "a tiny story. ");
    assert_eq!(reason, FinishReason::Stop);
    assert_eq!(serde_json::to_string(&reason).unwrap(), "\"stop\"");
    let back: FinishReason = serde_json::from_str("\"aborted\"").unwrap();
    assert_eq!(back, FinishReason::Aborted);
    assert_eq!(serde_json::to_string(&FinishReason::Length).unwrap(), "\"length\"");
}
