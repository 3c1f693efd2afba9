//! The CPU reference forward pass against independent oracles on the real
//! models fetched by scripts/setup.sh (SmolLM2-135M: a numpy forward pass;
//! Gemma 3 270M: its recorded greedy continuation), and on tiny random models
//! of every architecture.

use std::path::PathBuf;
use std::sync::OnceLock;

use navaja_core::gguf::GgufHeader;
use navaja_core::model::{Architecture, LayerAttention, ModelSpec};
use navaja_core::quant::GgmlType;
use navaja_core::reference::{CpuModel, argmax};
use navaja_core::testing::{TinyDecoder, tiny_decoder_gguf};
use navaja_core::tokenizer::Tokenizer;
use serde_json::Value;

fn model_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models").join(file)
}

fn read_model(file: &str) -> Vec<u8> {
    let path = model_path(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh to fetch the models", path.display()))
}

fn reference(model: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/reference/reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let all: Value = serde_json::from_str(&text).unwrap();
    all[model].clone()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Loaded once: both SmolLM2 tests share it.
fn smollm2() -> &'static CpuModel {
    static MODEL: OnceLock<CpuModel> = OnceLock::new();
    MODEL.get_or_init(|| CpuModel::from_gguf(&read_model("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap())
}

#[test]
fn smollm2_matches_the_numpy_reference() {
    let r = reference("smollm2-135m-instruct-q4_1");
    let prompt = ids(&r["prompt_ids"]);
    assert_eq!(prompt, [6403, 1980, 253, 655]);
    let model = smollm2();

    let mut session = model.session();
    let logits = session.forward(&prompt).unwrap();
    assert_eq!(logits.len(), prompt.len());
    assert_eq!(session.position(), prompt.len());
    let last = &logits[prompt.len() - 1];
    assert_eq!(last.len(), model.spec().vocab_size);
    for pair in r["top10_logits_after_prompt"].as_array().unwrap() {
        let (id, want) = (pair[0].as_u64().unwrap() as usize, pair[1].as_f64().unwrap());
        let got = f64::from(last[id]);
        assert!((got - want).abs() < 2e-3, "logit of token {id}: {got} vs numpy {want}");
    }

    let want = ids(&r["greedy_next_20_ids"]);
    let mut got = Vec::new();
    let mut next = argmax(last);
    for _ in 0..want.len() {
        got.push(next);
        next = argmax(&session.forward(&[next]).unwrap()[0]);
    }
    assert_eq!(got, want);
}

#[test]
fn smollm2_prefill_equals_token_by_token() {
    let model = smollm2();
    let prompt = [6403, 1980, 253, 655];
    let whole = model.session().forward(&prompt).unwrap();
    let mut session = model.session();
    for (i, &t) in prompt.iter().enumerate() {
        let step = session.forward(&[t]).unwrap();
        let max_diff = step[0].iter().zip(&whole[i]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(max_diff < 1e-4, "position {i}: prefill and single-token logits differ by {max_diff}");
    }
    // A bad id or an empty call leaves the session as it was.
    assert!(session.forward(&[u32::MAX]).is_err());
    assert!(session.forward(&[]).unwrap().is_empty());
    assert!(session.forward_last(&[]).unwrap().is_empty());
    assert_eq!(session.position(), prompt.len());
}

#[test]
fn gemma3_greedy_continuation_matches() {
    let r = reference("gemma-3-270m-q4_k_m");
    let bytes = read_model("gemma-3-270m-q4_k_m.gguf");
    let tokenizer = Tokenizer::from_gguf(&GgufHeader::parse(&bytes).unwrap().metadata).unwrap();
    let prompt = tokenizer.encode(r["prompt_text"].as_str().unwrap(), true, false).unwrap();
    assert_eq!(prompt, ids(&r["prompt_ids"]), "BOS-prefixed tokenization of the prompt");

    let model = CpuModel::from_gguf(&bytes).unwrap();
    drop(bytes);
    let spec = model.spec();
    assert_eq!(spec.architecture, Architecture::Gemma3);
    // The recorded run: local layers except every 6th, window 512.
    assert_eq!(spec.sliding_window, Some(512));
    assert_eq!(spec.layer_attention[5], LayerAttention::Global);
    assert_eq!(spec.layer_attention[4], LayerAttention::Local);

    let want = ids(&r["greedy_next_16_ids"]);
    let got = model.generate_greedy(&prompt, want.len()).unwrap();
    let text = tokenizer.decode(&got).unwrap();
    assert_eq!(got, want, "greedy continuation {text:?}");
}

/// Shapes whose rows are whole blocks of `ty` (K-quants need multiples of 256).
fn tiny(architecture: Architecture, ty: GgmlType) -> TinyDecoder {
    let base = TinyDecoder { architecture, weight_type: ty, embedding_type: ty, ..TinyDecoder::default() };
    if ty.block_len() == 256 {
        TinyDecoder { hidden: 256, n_heads: 8, n_kv_heads: 4, head_dim: 32, ffn: 512, ..base }
    } else {
        base
    }
}

/// Logits of `tokens` fed all at once and one at a time; they must agree.
fn prefill_and_steps(model: &CpuModel, tokens: &[u32]) -> Vec<Vec<f32>> {
    let whole = model.session().forward(tokens).unwrap();
    assert_eq!(&model.session().forward_last(tokens).unwrap(), whole.last().unwrap());
    let mut session = model.session();
    for (i, &t) in tokens.iter().enumerate() {
        let step = session.forward(&[t]).unwrap();
        let diff = step[0].iter().zip(&whole[i]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff <= 1e-5, "position {i}: prefill and single-token logits differ by {diff}");
    }
    whole
}

#[test]
fn tiny_models_of_every_architecture_and_type_run() {
    let types = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ];
    for arch in [Architecture::Llama, Architecture::Qwen2, Architecture::Gemma3] {
        for (i, &ty) in types.iter().enumerate() {
            let options = TinyDecoder { seed: i as u64, tied_embeddings: i % 2 == 0, ..tiny(arch, ty) };
            let file = tiny_decoder_gguf(&options).unwrap();
            let header = GgufHeader::parse(&file).unwrap();
            let spec = ModelSpec::from_gguf(&header).unwrap();
            let what = format!("{arch:?} {ty}");
            assert_eq!(spec.architecture, arch, "{what}");
            assert_eq!(spec.vocab_size, options.vocab, "{what}");
            assert_eq!(
                (spec.hidden_size, spec.head_dim, spec.ffn_size),
                (options.hidden, options.head_dim, options.ffn)
            );
            assert_eq!(spec.tied_embeddings, options.tied_embeddings, "{what}");
            assert_eq!(spec.attention_qkv_bias, arch == Architecture::Qwen2, "{what}");
            assert_eq!(spec.qk_norm && spec.post_norms, arch == Architecture::Gemma3, "{what}");

            let tokenizer = Tokenizer::from_gguf(&header.metadata).unwrap();
            let prompt = tokenizer.encode("the cat", true, false).unwrap();
            assert_eq!(prompt[0], navaja_core::testing::BOS_ID, "{what}");
            assert_eq!(tokenizer.decode_skip_special(&prompt).unwrap(), "the cat");

            let model = CpuModel::from_gguf(&file).unwrap();
            let logits = prefill_and_steps(&model, &prompt);
            for row in &logits {
                assert_eq!(row.len(), options.vocab, "{what}");
                assert!(row.iter().all(|l| l.is_finite()), "{what}: non-finite logits");
                let spread = row.iter().fold(f32::MIN, |a, &b| a.max(b)) - row.iter().fold(f32::MAX, |a, &b| a.min(b));
                assert!(spread > 1.0 && spread < 60.0, "{what}: logits spread {spread}");
            }
        }
    }
}

#[test]
fn tiny_models_with_other_shapes() {
    // llama with head_dim * n_heads != hidden (written as attention.key_length), no GQA.
    let wide = TinyDecoder { head_dim: 32, n_kv_heads: 4, tied_embeddings: false, ..TinyDecoder::default() };
    let model = CpuModel::from_gguf(&tiny_decoder_gguf(&wide).unwrap()).unwrap();
    assert_eq!(model.spec().head_dim, 32);
    prefill_and_steps(&model, &[256, 40, 41, 42, 43]);
    // One layer, one kv head, multi-query.
    let mqa = TinyDecoder { architecture: Architecture::Qwen2, n_layers: 1, n_kv_heads: 1, ..TinyDecoder::default() };
    let model = CpuModel::from_gguf(&tiny_decoder_gguf(&mqa).unwrap()).unwrap();
    prefill_and_steps(&model, &[256, 1, 2, 3]);
}

#[test]
fn gemma3_sliding_window_hides_old_positions() {
    let options = |window| TinyDecoder {
        architecture: Architecture::Gemma3,
        sliding_window: window,
        sliding_window_pattern: 2,
        ..TinyDecoder::default()
    };
    let windowed = CpuModel::from_gguf(&tiny_decoder_gguf(&options(4)).unwrap()).unwrap();
    let wide = CpuModel::from_gguf(&tiny_decoder_gguf(&options(64)).unwrap()).unwrap();
    let spec = windowed.spec();
    assert_eq!(spec.layer_attention, [LayerAttention::Local, LayerAttention::Global]);
    assert_eq!(spec.sliding_window, Some(4));

    let tokens: Vec<u32> = (0..10).map(|i| 256 + (i * 7) % 40).collect();
    let a = prefill_and_steps(&windowed, &tokens);
    let b = prefill_and_steps(&wide, &tokens);
    // The same weights (same seed): identical until position 4, the first
    // whose window (positions 1..=4) leaves out position 0.
    for pos in 0..tokens.len() {
        let diff = a[pos].iter().zip(&b[pos]).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        if pos < 4 {
            assert_eq!(diff, 0.0, "position {pos}");
        } else {
            assert!(diff > 1e-4, "position {pos}: the window changed nothing");
        }
    }
}

#[test]
fn tiny_files_are_deterministic_and_checked() {
    let a = tiny_decoder_gguf(&TinyDecoder::default()).unwrap();
    assert_eq!(a, tiny_decoder_gguf(&TinyDecoder::default()).unwrap());
    assert_ne!(a, tiny_decoder_gguf(&TinyDecoder { seed: 1, ..TinyDecoder::default() }).unwrap());
    for bad in [
        TinyDecoder { weight_type: GgmlType::Q4_K, ..TinyDecoder::default() }, // hidden 64 < 256
        TinyDecoder { ffn: 100, ..TinyDecoder::default() },                    // not a multiple of 32
        TinyDecoder { n_kv_heads: 3, ..TinyDecoder::default() },
        TinyDecoder { vocab: 100, ..TinyDecoder::default() },
        TinyDecoder { architecture: Architecture::Bert, ..TinyDecoder::default() },
        TinyDecoder { weight_type: GgmlType::IQ2_XS, ..TinyDecoder::default() },
    ] {
        let err = tiny_decoder_gguf(&bad).unwrap_err();
        assert!(matches!(err.code(), "invalid-argument" | "unsupported-model"), "{bad:?}: {err}");
    }
}

#[test]
fn sessions_check_their_arguments() {
    let options = TinyDecoder { context: 8, ..TinyDecoder::default() };
    let model = CpuModel::from_gguf(&tiny_decoder_gguf(&options).unwrap()).unwrap();
    let mut session = model.session();
    assert_eq!(session.forward(&[1, 2, 3]).unwrap().len(), 3);
    let err = session.forward(&[300]).unwrap_err();
    assert_eq!(err.code(), "invalid-argument");
    assert!(session.forward(&[1; 6]).is_err(), "past the context of 8");
    assert_eq!(session.position(), 3);
    session.forward(&[1; 5]).unwrap();
    session.reset();
    assert_eq!(session.position(), 0);
    // Not a decoder, or not a model at all.
    assert!(CpuModel::from_gguf(b"GGUF").is_err());
    assert_eq!(model.generate_greedy(&[256, 1], 3).unwrap().len(), 3);
    assert!(model.generate_greedy(&[], 3).is_err());
}
