//! The GPU decoder against the CPU reference forward pass
//! (`navaja_core::reference`) on tiny random models that the test writes,
//! for every architecture and weight type the engine runs.
//!
//! No adapter is a failure, never a skip.

use navaja_core::NavajaError;
use navaja_core::model::Architecture;
use navaja_core::quant::GgmlType;
use navaja_core::quant::kv::KvType;
use navaja_core::reference::CpuModel;
use navaja_core::testing::{TinyDecoder, tiny_decoder_gguf};
use navaja_gpu::generation::GenerateOptions;
use navaja_gpu::model::load_decoder_gguf;
use navaja_gpu::session::{Pick, Session, SessionOptions};

mod common;
use common::gpu;

fn tiny(architecture: Architecture, weight_type: GgmlType, seed: u64) -> TinyDecoder {
    let k_quant = matches!(weight_type, GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K);
    TinyDecoder {
        architecture,
        seed,
        weight_type,
        // K-quants need rows of whole 256-value super-blocks (hidden and n_heads * head_dim).
        hidden: if k_quant { 256 } else { 64 },
        n_heads: if k_quant { 8 } else { 4 },
        head_dim: if k_quant { 32 } else { 16 },
        ffn: if k_quant { 512 } else { 96 },
        ..TinyDecoder::default()
    }
}

fn session(file: &[u8], opts: &SessionOptions) -> Session {
    let gpu = gpu().clone();
    let loaded = load_decoder_gguf(&gpu, file).unwrap();
    pollster::block_on(Session::new(gpu, loaded.model, opts)).unwrap()
}

/// Largest |gpu - cpu| relative to the largest |cpu| logit of the row.
fn max_rel_diff(gpu: &[f32], cpu: &[f32]) -> f32 {
    assert_eq!(gpu.len(), cpu.len());
    let scale = cpu.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    gpu.iter().zip(cpu).map(|(g, c)| (g - c).abs() / scale).fold(0.0, f32::max)
}

const PROMPT: [u32; 11] = [1, 17, 42, 299, 5, 5, 130, 77, 250, 8, 64];

fn check_against_cpu(architecture: Architecture, weight_type: GgmlType) {
    let spec = tiny(architecture, weight_type, 7 + weight_type as u64);
    let file = tiny_decoder_gguf(&spec).unwrap();
    let cpu = CpuModel::from_gguf(&file).unwrap();
    let want = cpu.session().forward(&PROMPT).unwrap();
    // Prefill in chunks of 4 (3 chunks), every row's logits.
    let mut s = session(
        &file,
        &SessionOptions {
            context_length: 64,
            max_batch: 4,
            logit_rows: 4,
            kv: Some(KvType::F32),
            ..SessionOptions::default()
        },
    );
    let got = pollster::block_on(s.logits_all(&PROMPT)).unwrap();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let d = max_rel_diff(g, w);
        assert!(d < 2e-3, "{architecture:?} {weight_type:?}: prefill row {i} differs by {d}");
    }
    // Then one token at a time, continuing the same cache.
    let mut cpu_session = cpu.session();
    cpu_session.forward(&PROMPT).unwrap();
    for (step, &id) in [3u32, 200, 9].iter().enumerate() {
        let w = cpu_session.forward(&[id]).unwrap().pop().unwrap();
        let g = pollster::block_on(s.logits_all(&[id])).unwrap().pop().unwrap();
        let d = max_rel_diff(&g, &w);
        assert!(d < 2e-3, "{architecture:?} {weight_type:?}: decode step {step} differs by {d}");
    }
}

#[test]
fn llama_matches_the_cpu_reference_for_every_weight_type() {
    for ty in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ] {
        check_against_cpu(Architecture::Llama, ty);
    }
}

#[test]
fn qwen2_matches_the_cpu_reference() {
    for ty in [GgmlType::Q8_0, GgmlType::Q4_K] {
        check_against_cpu(Architecture::Qwen2, ty);
    }
}

/// The top-k the GPU returns for the last token agrees with the full logits.
#[test]
fn decode_candidates_match_the_full_logits() {
    let file = tiny_decoder_gguf(&tiny(Architecture::Llama, GgmlType::Q8_0, 3)).unwrap();
    let cpu = CpuModel::from_gguf(&file).unwrap();
    let logits = cpu.session().forward(&PROMPT).unwrap().pop().unwrap();
    let mut s = session(&file, &SessionOptions { context_length: 32, ..SessionOptions::default() });
    let top = pollster::block_on(s.feed(&PROMPT, &Pick { k: 5, temperature: 1.0, adjustments: vec![] })).unwrap();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    for (rank, (id, logit)) in top.candidates.iter().enumerate() {
        let want = logits[*id as usize];
        assert!((logit - want).abs() < 2e-3 * want.abs().max(1.0), "candidate {rank}: {logit} vs {want}");
        // Ranks agree except within numerical noise of a near-tie.
        let ref_id = order[rank];
        assert!(*id as usize == ref_id || (logits[ref_id] - want).abs() < 1e-3, "rank {rank}: {id} vs {ref_id}");
    }
    assert_eq!(s.tokens(), &PROMPT);
}

/// Greedy generation equals a greedy loop over the CPU reference.
#[test]
fn greedy_generation_matches_the_cpu_reference() {
    let file = tiny_decoder_gguf(&tiny(Architecture::Llama, GgmlType::Q4_1, 11)).unwrap();
    let cpu = CpuModel::from_gguf(&file).unwrap();
    let mut cs = cpu.session();
    let mut last = cs.forward(&PROMPT).unwrap().pop().unwrap();
    let mut want = Vec::new();
    for _ in 0..8 {
        let next = argmax(&last);
        want.push(next);
        last = cs.forward(&[next]).unwrap().pop().unwrap();
    }
    let gpu = gpu().clone();
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    let mut s = pollster::block_on(Session::new(gpu, loaded.model.clone(), &SessionOptions::default())).unwrap();
    let opts = GenerateOptions {
        max_tokens: 8,
        sampling: navaja_core::generate::SamplingConfig::greedy(),
        ignore_eos: true,
        ..GenerateOptions::default()
    };
    let g = pollster::block_on(s.generate(&loaded.tokenizer, &PROMPT, &opts, &mut |_| true, &|| 0.0)).unwrap();
    assert_eq!(g.ids, want);
    // A second call with the same prompt reuses all but the last prompt token.
    let again = pollster::block_on(s.generate(&loaded.tokenizer, &PROMPT, &opts, &mut |_| true, &|| 0.0)).unwrap();
    assert_eq!(again.ids, want);
    assert_eq!(again.cached_tokens, PROMPT.len() - 1);
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for i in 1..v.len() {
        if v[i] > v[best] {
            best = i;
        }
    }
    best as u32
}

#[test]
fn bad_input_gives_typed_errors_and_the_session_stays_usable() {
    let file = tiny_decoder_gguf(&tiny(Architecture::Llama, GgmlType::Q8_0, 5)).unwrap();
    let mut s = session(&file, &SessionOptions { context_length: 16, ..SessionOptions::default() });
    let err = pollster::block_on(s.feed(&[1, 100_000], &Pick::greedy())).unwrap_err();
    assert!(matches!(err, NavajaError::InvalidArgument(_)), "{err}");
    let err = pollster::block_on(s.feed(&[1; 17], &Pick::greedy())).unwrap_err();
    assert!(matches!(err, NavajaError::ContextOverflow(_)), "{err}");
    let err = pollster::block_on(s.feed(&[1], &Pick { k: 0, ..Pick::greedy() })).unwrap_err();
    assert!(matches!(err, NavajaError::InvalidArgument(_)), "{err}");
    assert!(s.tokens().is_empty());
    pollster::block_on(s.feed(&[1, 2, 3], &Pick::greedy())).unwrap();
    assert_eq!(s.tokens(), &[1, 2, 3]);

    // A context longer than the model's is refused up front.
    let gpu = gpu().clone();
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    let opts = SessionOptions { context_length: 1 << 30, ..SessionOptions::default() };
    let err = pollster::block_on(Session::new(gpu.clone(), loaded.model, &opts)).err().unwrap();
    assert!(matches!(err, NavajaError::InvalidArgument(_)), "{err}");

    // A truncated file is a model-format error, not a panic.
    let err = load_decoder_gguf(&gpu, &file[..file.len() / 2]).err().unwrap();
    assert!(matches!(err, NavajaError::ModelFormat(_)), "{err}");
}

/// A follow-up chat message prefills only what the conversation added: the
/// earlier turns stay in the KV cache.
#[test]
fn chat_follow_ups_reuse_the_cached_conversation() {
    use navaja_core::chat::ChatTemplate;
    use navaja_gpu::generation::Chat;

    let file = tiny_decoder_gguf(&tiny(Architecture::Llama, GgmlType::Q8_0, 21)).unwrap();
    let gpu = gpu().clone();
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    let template = ChatTemplate::new(
        "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}",
    )
    .unwrap();
    let mut chat = Chat::new(template, Some("be brief"));
    let mut s = pollster::block_on(Session::new(gpu, loaded.model.clone(), &SessionOptions::default())).unwrap();
    let opts = GenerateOptions {
        max_tokens: 6,
        sampling: navaja_core::generate::SamplingConfig { seed: Some(3), ..Default::default() },
        ..GenerateOptions::default()
    };
    let tok = &loaded.tokenizer;
    let first = pollster::block_on(chat.reply(&mut s, tok, "hello there", &opts, &mut |_| true, &|| 0.0)).unwrap();
    assert_eq!(first.cached_tokens, 0);
    let after_first = chat.prompt_ids(tok).unwrap().len();
    let second = pollster::block_on(chat.reply(&mut s, tok, "and again", &opts, &mut |_| true, &|| 0.0)).unwrap();
    // Everything up to the first reply's text is reused; only the new turn is computed.
    assert!(second.cached_tokens >= first.prompt_tokens, "{} cached of {}", second.cached_tokens, second.prompt_tokens);
    assert!(second.timings.prefill_tokens < second.prompt_tokens);
    assert_eq!(chat.messages().len(), 5, "system, user, assistant, user, assistant");
    assert!(after_first > first.prompt_tokens);
}

/// The same seed gives the same sampled tokens; penalties and a logit bias apply.
#[test]
fn seeded_sampling_reproduces_and_logit_bias_bans_a_token() {
    use navaja_core::generate::SamplingConfig;
    let file = tiny_decoder_gguf(&tiny(Architecture::Llama, GgmlType::Q4_0, 8)).unwrap();
    let gpu = gpu().clone();
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    let mut s = pollster::block_on(Session::new(gpu, loaded.model.clone(), &SessionOptions::default())).unwrap();
    let run = |s: &mut Session, sampling: SamplingConfig| {
        let opts = GenerateOptions { max_tokens: 12, sampling, ignore_eos: true, ..GenerateOptions::default() };
        pollster::block_on(s.generate(&loaded.tokenizer, &PROMPT, &opts, &mut |_| true, &|| 0.0)).unwrap()
    };
    let seeded =
        SamplingConfig { temperature: 1.5, top_k: 0, top_p: 1.0, min_p: 0.0, seed: Some(99), ..Default::default() };
    let a = run(&mut s, seeded.clone());
    let b = run(&mut s, seeded.clone());
    assert_eq!(a.ids, b.ids);
    assert_eq!(a.seed, 99);
    let greedy = run(&mut s, SamplingConfig::greedy());
    let banned = greedy.ids[0];
    let biased =
        run(&mut s, SamplingConfig { logit_bias: vec![(banned, f32::NEG_INFINITY)], ..SamplingConfig::greedy() });
    assert!(!biased.ids.contains(&banned), "{banned} in {:?}", biased.ids);
    // A presence penalty far larger than any logit gap forbids every repeat within the window.
    let penalised =
        run(&mut s, SamplingConfig { presence_penalty: 1e4, repeat_last_n: 64, ..SamplingConfig::greedy() });
    let mut seen = PROMPT.to_vec();
    for id in &penalised.ids {
        assert!(!seen.contains(id) || seen.len() > 64, "repeated {id} despite the penalty");
        seen.push(*id);
    }
}

/// A tiny gemma3: 3 layers (local, global, local), 1 KV head (as Gemma 3
/// 270M), a sliding window of `window` positions on the local layers.
fn tiny_gemma3(weight_type: GgmlType, embedding_type: GgmlType, window: usize, seed: u64) -> TinyDecoder {
    let k_quant = matches!(weight_type, GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K);
    TinyDecoder {
        architecture: Architecture::Gemma3,
        seed,
        weight_type,
        embedding_type,
        n_layers: 3,
        hidden: if k_quant { 256 } else { 64 },
        n_heads: 4,
        n_kv_heads: 1,
        head_dim: if k_quant { 64 } else { 32 },
        ffn: if k_quant { 512 } else { 96 },
        sliding_window: window,
        sliding_window_pattern: 2,
        ..TinyDecoder::default()
    }
}

/// Gemma 3 (q/k norms, post-norms, GeGLU, scaled embeddings, two RoPE bases,
/// sliding-window layers) against the CPU reference, prefilled in chunks of
/// `max_batch` and then decoded token by token, well past the window so the
/// local layers' rings wrap several times.
fn check_gemma3_against_cpu(weight_type: GgmlType, embedding_type: GgmlType, window: usize, max_batch: usize) {
    let spec = tiny_gemma3(weight_type, embedding_type, window, 31 + weight_type as u64);
    let file = tiny_decoder_gguf(&spec).unwrap();
    let cpu = CpuModel::from_gguf(&file).unwrap();
    assert!(cpu.spec().is_local_layer(0) && !cpu.spec().is_local_layer(1), "{:?}", cpu.spec().layer_attention);
    let prompt: Vec<u32> = (0..23u32).map(|i| (i * 37 + 5) % 300).collect();
    let want = cpu.session().forward(&prompt).unwrap();
    let mut s = session(
        &file,
        &SessionOptions {
            context_length: 64,
            max_batch,
            logit_rows: max_batch,
            kv: Some(KvType::F32),
            ..SessionOptions::default()
        },
    );
    let got = pollster::block_on(s.logits_all(&prompt)).unwrap();
    assert_eq!(got.len(), prompt.len());
    let case = format!("gemma3 {weight_type:?} (embedding {embedding_type:?}), window {window}, batch {max_batch}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let d = max_rel_diff(g, w);
        assert!(d < 2e-3, "{case}: prefill row {i} differs by {d}");
    }
    let mut cpu_session = cpu.session();
    cpu_session.forward(&prompt).unwrap();
    for (step, &id) in [3u32, 200, 9, 9, 120, 77, 1, 250].iter().enumerate() {
        let w = cpu_session.forward(&[id]).unwrap().pop().unwrap();
        let g = pollster::block_on(s.logits_all(&[id])).unwrap().pop().unwrap();
        let d = max_rel_diff(&g, &w);
        assert!(d < 2e-3, "{case}: decode step {step} differs by {d}");
    }
}

#[test]
fn gemma3_matches_the_cpu_reference_across_the_sliding_window() {
    for (ty, embedding, window, max_batch) in [
        (GgmlType::Q8_0, GgmlType::Q8_0, 5, 4),
        (GgmlType::Q5_0, GgmlType::Q8_0, 3, 8),
        (GgmlType::Q4_K, GgmlType::Q6_K, 6, 4),
        (GgmlType::Q6_K, GgmlType::Q8_0, 4, 5),
        (GgmlType::F32, GgmlType::F16, 7, 16),
    ] {
        check_gemma3_against_cpu(ty, embedding, window, max_batch);
    }
}

/// Without the window the local layers would see every key: the same model
/// with a window wider than the sequence must give other logits (the test
/// above is not passing for lack of a window).
#[test]
fn gemma3_sliding_window_changes_the_logits() {
    let prompt: Vec<u32> = (0..20u32).map(|i| (i * 53 + 11) % 300).collect();
    let last = |window| {
        let file = tiny_decoder_gguf(&tiny_gemma3(GgmlType::Q8_0, GgmlType::Q8_0, window, 5)).unwrap();
        let mut s = session(&file, &SessionOptions { context_length: 32, max_batch: 8, ..SessionOptions::default() });
        pollster::block_on(s.logits_all(&prompt)).unwrap().pop().unwrap()
    };
    let (narrow, wide) = (last(4), last(32));
    assert!(max_rel_diff(&narrow, &wide) > 1e-2, "a window of 4 gives the logits of a window of 32");
}
