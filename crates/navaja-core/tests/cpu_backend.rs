//! The CPU backend (`navaja_core::cpu`) against independent oracles: the
//! numpy forward pass of SmolLM2-135M and the recorded greedy text of
//! Gemma 3 270M (tests/fixtures/reference), and the f64 reference forward
//! pass on tiny random models of every architecture and weight type. Its
//! projections see 8-bit activations, so logits are compared by top-1
//! agreement under teacher forcing and by a tolerance, never exactly.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use navaja_core::cpu::{CpuDecoder, CpuDecoderSession};
use navaja_core::generate::{GenerateOptions, Pick, TokenModel, generate};
use navaja_core::gguf::GgufHeader;
use navaja_core::model::Architecture;
use navaja_core::quant::GgmlType;
use navaja_core::quant::kv::KvType;
use navaja_core::reference::{CpuModel, argmax};
use navaja_core::testing::{TinyDecoder, tiny_decoder_gguf};
use navaja_core::tokenizer::Tokenizer;
use serde_json::Value;

/// The CPU session's futures never wait: one poll completes them.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a CPU session future was pending"),
    }
}

fn read_model(file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models").join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh to fetch the models", path.display()))
}

fn reference(model: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/reference/reference.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    all[model].clone()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Feeds `tokens` one at a time: the logits after each.
fn logits_after_each(session: &mut CpuDecoderSession, tokens: &[u32]) -> Vec<Vec<f32>> {
    tokens.iter().map(|&t| session.forward(&[t]).unwrap()).collect()
}

/// Largest |a - b| over the row, relative to the row's spread.
fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    let spread = b.iter().fold(f32::MIN, |m, &v| m.max(v)) - b.iter().fold(f32::MAX, |m, &v| m.min(v));
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / spread.max(1e-6)
}

#[test]
fn smollm2_agrees_with_the_numpy_reference() {
    let r = reference("smollm2-135m-instruct-q4_1");
    let prompt = ids(&r["prompt_ids"]);
    let want = ids(&r["greedy_next_20_ids"]);
    let model = Arc::new(CpuDecoder::from_gguf(&read_model("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap());
    let mut session = CpuDecoderSession::new(model.clone(), 0, KvType::F32).unwrap();
    let last = session.forward(&prompt).unwrap();
    let mut worst = 0f64;
    for pair in r["top10_logits_after_prompt"].as_array().unwrap() {
        let (id, numpy) = (pair[0].as_u64().unwrap() as usize, pair[1].as_f64().unwrap());
        worst = worst.max((f64::from(last[id]) - numpy).abs());
    }
    // 8-bit activations (as llama.cpp's) move logits that span about 25 by
    // up to 0.38 here; f32 activations would stay within 2e-3.
    assert!(worst < 0.5, "top-10 logits differ from numpy's by up to {worst}");
    // Teacher forcing: after the prompt and each reference token, our argmax is numpy's next token.
    let mut rows = vec![last];
    rows.extend(logits_after_each(&mut session, &want[..want.len() - 1]));
    let agree = rows.iter().zip(&want).filter(|(row, w)| argmax(row) == **w).count();
    assert!(agree >= want.len() - 1, "top-1 agreement {agree}/{} under teacher forcing", want.len());
}

#[test]
fn gemma3_agrees_with_its_recorded_greedy_text() {
    let r = reference("gemma-3-270m-q4_k_m");
    let bytes = read_model("gemma-3-270m-q4_k_m.gguf");
    let tokenizer = Tokenizer::from_gguf(&GgufHeader::parse(&bytes).unwrap().metadata).unwrap();
    let prompt = tokenizer.encode(r["prompt_text"].as_str().unwrap(), true, false).unwrap();
    let want = ids(&r["greedy_next_16_ids"]);
    let model = Arc::new(CpuDecoder::from_gguf(&bytes).unwrap());
    drop(bytes);
    assert_eq!(model.spec().architecture, Architecture::Gemma3);
    let mut session = CpuDecoderSession::new(model, 0, KvType::F32).unwrap();
    let mut rows = vec![session.forward(&prompt).unwrap()];
    rows.extend(logits_after_each(&mut session, &want[..want.len() - 1]));
    let agree = rows.iter().zip(&want).filter(|(row, w)| argmax(row) == **w).count();
    assert!(agree >= want.len() - 1, "top-1 agreement {agree}/{} under teacher forcing", want.len());
}

#[test]
fn tiny_models_of_every_architecture_and_type_match_the_reference() {
    let types = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
    ];
    for arch in [Architecture::Llama, Architecture::Qwen2, Architecture::Gemma3] {
        for (i, &ty) in types.iter().enumerate() {
            let base = TinyDecoder {
                architecture: arch,
                weight_type: ty,
                embedding_type: ty,
                seed: i as u64,
                tied_embeddings: i % 2 == 0,
                ..TinyDecoder::default()
            };
            let options = if ty.block_len() == 256 {
                TinyDecoder { hidden: 256, n_heads: 8, n_kv_heads: 4, head_dim: 32, ffn: 512, ..base }
            } else {
                base
            };
            let file = tiny_decoder_gguf(&options).unwrap();
            let oracle = CpuModel::from_gguf(&file).unwrap();
            let model = Arc::new(CpuDecoder::from_gguf(&file).unwrap());
            let tokens: Vec<u32> = (0..12).map(|j| 256 + (j * 7 + i as u32) % 40).collect();
            let want = oracle.session().forward(&tokens).unwrap();
            let got = logits_after_each(&mut CpuDecoderSession::new(model.clone(), 0, KvType::F32).unwrap(), &tokens);
            // The whole prompt at once gives the last row of token by token.
            let whole = CpuDecoderSession::new(model, 0, KvType::F32).unwrap().forward(&tokens).unwrap();
            assert_eq!(&whole, got.last().unwrap(), "{arch:?} {ty}");
            let what = format!("{arch:?} {ty}");
            let mut agree = 0;
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    relative_error(g, w) < 0.05,
                    "{what}: logits differ by {} of their spread",
                    relative_error(g, w)
                );
                agree += usize::from(argmax(g) == argmax(w));
            }
            assert!(agree >= tokens.len() - 2, "{what}: top-1 agreement {agree}/{}", tokens.len());
        }
    }
}

#[test]
fn gemma3_sliding_window_matches_the_reference() {
    let options = TinyDecoder {
        architecture: Architecture::Gemma3,
        sliding_window: 4,
        sliding_window_pattern: 2,
        ..TinyDecoder::default()
    };
    let file = tiny_decoder_gguf(&options).unwrap();
    let tokens: Vec<u32> = (0..10).map(|i| 256 + (i * 7) % 40).collect();
    let want = CpuModel::from_gguf(&file).unwrap().session().forward(&tokens).unwrap();
    let model = Arc::new(CpuDecoder::from_gguf(&file).unwrap());
    let got = logits_after_each(&mut CpuDecoderSession::new(model, 0, KvType::F32).unwrap(), &tokens);
    for (pos, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(relative_error(g, w) < 0.05, "position {pos}");
    }
}

#[test]
fn generation_runs_through_the_shared_loop() {
    let file = tiny_decoder_gguf(&TinyDecoder::default()).unwrap();
    let tokenizer = Tokenizer::from_gguf(&GgufHeader::parse(&file).unwrap().metadata).unwrap();
    let model = Arc::new(CpuDecoder::from_gguf(&file).unwrap());
    let oracle = CpuModel::from_gguf(&file).unwrap();
    let mut session = CpuDecoderSession::new(model, 0, KvType::F32).unwrap();
    let prompt = tokenizer.encode("the cat", true, false).unwrap();
    let sampling = navaja_core::generate::SamplingConfig::greedy();
    let opts = GenerateOptions { max_tokens: 6, ignore_eos: true, sampling, ..GenerateOptions::default() };
    let mut streamed = String::new();
    let g = ready(generate(
        &mut session,
        &tokenizer,
        &prompt,
        &opts,
        &mut |t| {
            streamed.push_str(t);
            true
        },
        &|| 0.0,
    ))
    .unwrap();
    assert_eq!(g.ids.len(), 6);
    assert_eq!(streamed, g.text);
    let want = oracle.generate_greedy(&prompt, 6).unwrap();
    let agree = g.ids.iter().zip(&want).take_while(|(a, b)| a == b).count();
    assert!(agree >= 4, "greedy ids {:?} vs reference {want:?}", g.ids);
    // A second request with the same prompt reuses the cache.
    let again = ready(generate(&mut session, &tokenizer, &prompt, &opts, &mut |_| true, &|| 0.0)).unwrap();
    assert_eq!(again.cached_tokens, prompt.len() - 1);
    assert_eq!(again.ids, g.ids);
}

#[test]
fn bad_input_is_a_typed_error_and_the_session_stays_usable() {
    let options = TinyDecoder { context: 8, ..TinyDecoder::default() };
    let file = tiny_decoder_gguf(&options).unwrap();
    let model = Arc::new(CpuDecoder::from_gguf(&file).unwrap());
    let mut session = CpuDecoderSession::new(model.clone(), 0, KvType::F32).unwrap();
    assert_eq!(session.capacity(), 8);
    session.forward(&[1, 2, 3]).unwrap();
    assert_eq!(session.forward(&[300]).unwrap_err().code(), "invalid-argument");
    assert_eq!(session.forward(&[]).unwrap_err().code(), "invalid-argument");
    assert_eq!(session.forward(&[1; 6]).unwrap_err().code(), "context-overflow");
    let bad_pick = Pick { k: 0, ..Pick::greedy() };
    assert_eq!(ready(session.feed(&[1], &bad_pick)).unwrap_err().code(), "invalid-argument");
    assert_eq!(session.tokens(), &[1, 2, 3]);
    let top = ready(session.feed(&[4], &Pick { k: 3, ..Pick::greedy() })).unwrap();
    assert_eq!(top.candidates.len(), 3);
    assert_eq!(session.truncate(2), 2);
    assert_eq!(session.truncate(5), 2);
    assert!(CpuDecoderSession::new(model, 9, KvType::F32).is_err(), "more than the model's context");
    // Broken files.
    assert!(CpuDecoder::from_gguf(b"GGUF").is_err());
    assert!(CpuDecoder::from_gguf(&file[..file.len() - 100]).is_err());
    let bert = navaja_core::testing::tiny_bert_gguf(&Default::default()).unwrap();
    assert_eq!(CpuDecoder::from_gguf(&bert).unwrap_err().code(), "unsupported-model");
}

#[test]
fn smollm2_greedy_text_is_the_references() {
    let r = reference("smollm2-135m-instruct-q4_1");
    let want = ids(&r["greedy_next_20_ids"]);
    let model = Arc::new(CpuDecoder::from_gguf(&read_model("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap());
    let mut session = CpuDecoderSession::new(model, 0, KvType::F32).unwrap();
    let mut next = argmax(&session.forward(&ids(&r["prompt_ids"])).unwrap());
    let mut got = Vec::new();
    for _ in 0..want.len() {
        got.push(next);
        next = argmax(&session.forward(&[next]).unwrap());
    }
    assert_eq!(got, want);
}

#[test]
fn a_q8_cache_keeps_smollm2_on_the_reference() {
    let r = reference("smollm2-135m-instruct-q4_1");
    let prompt = ids(&r["prompt_ids"]);
    let want = ids(&r["greedy_next_20_ids"]);
    let model = Arc::new(CpuDecoder::from_gguf(&read_model("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap());
    assert_eq!(CpuDecoderSession::supported_kv(&model, KvType::Q4), KvType::Q8);
    assert_eq!(CpuDecoderSession::supported_kv(&model, KvType::F16), KvType::F32);
    let mut f32s = CpuDecoderSession::new(model.clone(), 0, KvType::F32).unwrap();
    let mut q8 = CpuDecoderSession::new(model, 0, KvType::Q8).unwrap();
    // 30 layers x keys and values x 192 values: 192 bytes of quants + 6 scales each.
    assert_eq!(q8.kv_bytes_per_token(), 30 * 2 * (192 + 24));
    assert_eq!(f32s.kv_bytes_per_token(), 30 * 2 * 192 * 4);
    let mut rows = vec![q8.forward(&prompt).unwrap()];
    let exact = f32s.forward(&prompt).unwrap();
    assert!(relative_error(&rows[0], &exact) < 0.02, "q8 vs f32 cache: {}", relative_error(&rows[0], &exact));
    rows.extend(logits_after_each(&mut q8, &want[..want.len() - 1]));
    let agree = rows.iter().zip(&want).filter(|(row, w)| argmax(row) == **w).count();
    assert!(agree >= want.len() - 1, "top-1 agreement {agree}/{} under teacher forcing", want.len());
    // Truncating a q8 cache and feeding the same tokens again gives the same logits.
    q8.truncate(prompt.len());
    let again = logits_after_each(&mut q8, &want[..3]);
    assert_eq!(again[2], rows[3]);
}

#[test]
fn a_q8_cache_on_tiny_models_with_windows_matches_the_reference() {
    for arch in [Architecture::Llama, Architecture::Gemma3] {
        let options = TinyDecoder {
            architecture: arch,
            head_dim: 32,
            sliding_window: 4,
            sliding_window_pattern: 2,
            ..TinyDecoder::default()
        };
        let file = tiny_decoder_gguf(&options).unwrap();
        let tokens: Vec<u32> = (0..10).map(|i| 256 + (i * 7) % 40).collect();
        let want = CpuModel::from_gguf(&file).unwrap().session().forward(&tokens).unwrap();
        let model = Arc::new(CpuDecoder::from_gguf(&file).unwrap());
        let got = logits_after_each(&mut CpuDecoderSession::new(model.clone(), 0, KvType::Q8).unwrap(), &tokens);
        for (pos, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(relative_error(g, w) < 0.05, "{arch:?} position {pos}: {}", relative_error(g, w));
        }
        // head_dim 16 is not whole blocks: q8 is refused, and supported_kv says f32.
        let odd = Arc::new(
            CpuDecoder::from_gguf(&tiny_decoder_gguf(&TinyDecoder { head_dim: 16, ..options }).unwrap()).unwrap(),
        );
        assert_eq!(CpuDecoderSession::new(odd.clone(), 0, KvType::Q8).unwrap_err().code(), "invalid-argument");
        assert_eq!(CpuDecoderSession::supported_kv(&odd, KvType::Q8), KvType::F32);
    }
}

/// A prompt of several chunks (each weight row against four tokens at once)
/// gives the logits of its tokens fed one at a time, bit for bit, and leaves
/// the same cache behind: the decode steps after it agree too.
#[test]
fn chunked_prefill_equals_token_by_token() {
    let cases = [
        (Architecture::Llama, GgmlType::Q4_1, KvType::Q8),
        (Architecture::Llama, GgmlType::Q4_0, KvType::F32),
        (Architecture::Qwen2, GgmlType::Q8_0, KvType::Q8),
        (Architecture::Gemma3, GgmlType::Q6_K, KvType::Q8),
        (Architecture::Gemma3, GgmlType::F16, KvType::F32),
    ];
    for (i, (arch, ty, kv)) in cases.into_iter().enumerate() {
        let base = TinyDecoder {
            architecture: arch,
            weight_type: ty,
            embedding_type: ty,
            seed: 40 + i as u64,
            head_dim: 32,
            sliding_window: 8,
            sliding_window_pattern: 2,
            ..TinyDecoder::default()
        };
        let options = if ty.block_len() == 256 {
            TinyDecoder { hidden: 256, n_heads: 8, n_kv_heads: 4, ffn: 512, ..base }
        } else {
            base
        };
        let model = Arc::new(CpuDecoder::from_gguf(&tiny_decoder_gguf(&options).unwrap()).unwrap());
        let prompt: Vec<u32> = (0..75).map(|j| 256 + (j * 11 + i as u32) % 40).collect();
        let mut whole = CpuDecoderSession::new(model.clone(), 0, kv).unwrap();
        let mut single = CpuDecoderSession::new(model, 0, kv).unwrap();
        let a = whole.forward(&prompt).unwrap();
        let b = logits_after_each(&mut single, &prompt).pop().unwrap();
        assert_eq!(a, b, "{arch:?} {ty} {kv:?}: the prompt's last logits");
        for next in [290u32, 291, 292] {
            assert_eq!(
                whole.forward(&[next]).unwrap(),
                single.forward(&[next]).unwrap(),
                "{arch:?} {ty} {kv:?}: decode"
            );
        }
    }
}
