//! The CPU backend's encoder ([`QuantEncoder`]: 12-bit weights and inputs)
//! against independent and oracle forward passes:
//!
//! - all-MiniLM-L6-v2 (the real sentence-transformers folder) against the
//!   numpy forward pass (tests/fixtures/reference/reference.json: token ids,
//!   first embedding values, cosine similarities of the reference sentences),
//!   and against the f64 oracle ([`CpuEncoder`], f32 weights) on 64 mixed texts;
//! - tiny random BERT, JinaBERT and reranker models, GGUF (F32, F16, Q8_0)
//!   and safetensors (F32, BF16), against the oracle;
//! - a batch split over several forward passes equals each input alone, bit for bit;
//! - bad input is a typed error, and the encoder stays usable.

use navaja_core::NavajaError;
use navaja_core::cpu::{CPU_ENCODER_BATCH_TOKENS, QuantEncoder};
use navaja_core::encoder::{EncoderInput, HfEncoderFiles, SentenceTransformersFiles};
use navaja_core::model::Pooling;
use navaja_core::ops::pooling::cosine;
use navaja_core::quant::GgmlType;
use navaja_core::reference::CpuEncoder;
use navaja_core::testing::{
    TinyBert, TinyDecoder, mixed_length_texts, tiny_bert_folder, tiny_bert_gguf, tiny_decoder_gguf,
};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn read(rel: &str) -> Vec<u8> {
    let path = format!("{ROOT}/{rel}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}; run scripts/setup.sh"))
}

fn read_text(rel: &str) -> String {
    String::from_utf8(read(rel)).unwrap()
}

fn file<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &files.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1
}

fn text<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a str {
    std::str::from_utf8(file(files, name)).unwrap()
}

const MINILM: &str = "models/all-MiniLM-L6-v2";

/// The real MiniLM folder: (config.json, tokenizer.json, modules.json, pooling config, sentence_bert_config, weights).
fn minilm_files() -> (String, String, String, String, String, Vec<u8>) {
    let t = |name: &str| read_text(&format!("{MINILM}/{name}"));
    (
        t("config.json"),
        t("tokenizer.json"),
        t("modules.json"),
        t("1_Pooling/config.json"),
        t("sentence_bert_config.json"),
        read(&format!("{MINILM}/model.safetensors")),
    )
}

fn minilm() -> QuantEncoder {
    let (config, tokenizer, modules, pooling, st, weights) = minilm_files();
    QuantEncoder::from_hf_files(&HfEncoderFiles {
        config_json: &config,
        tokenizer_json: &tokenizer,
        weights: &weights,
        sentence_transformers: SentenceTransformersFiles {
            modules_json: Some(&modules),
            pooling_json: Some(&pooling),
            sentence_bert_config_json: Some(&st),
        },
    })
    .unwrap()
}

fn embed(enc: &QuantEncoder, texts: &[&str]) -> Vec<Vec<f32>> {
    let inputs: Vec<EncoderInput> = texts.iter().map(|t| enc.text_input(t).unwrap()).collect();
    enc.embed_inputs(&inputs).unwrap()
}

#[test]
fn minilm_matches_the_numpy_reference() {
    let reference: serde_json::Value =
        serde_json::from_slice(&read("tests/fixtures/reference/reference.json")).unwrap();
    let r = &reference["all-minilm-l6-v2"];
    let enc = minilm();
    assert_eq!((enc.dim(), enc.config().max_tokens, enc.config().normalize), (384, 256, true));
    assert!(!enc.is_reranker());
    let cosines = r["cosine_with_first"].as_object().unwrap();
    let first = cosines["first"].as_str().unwrap();
    let want_ids: Vec<u32> = serde_json::from_value(r["tokens"][first].clone()).unwrap();
    assert_eq!(enc.text_input(first).unwrap().ids, want_ids);
    let others: Vec<&str> = cosines.keys().map(String::as_str).filter(|k| *k != "first").collect();
    let texts: Vec<&str> = std::iter::once(first).chain(others.iter().copied()).collect();
    let e = embed(&enc, &texts);
    let want5: Vec<f32> = serde_json::from_value(r["embedding_first5"][first].clone()).unwrap();
    eprintln!("first values {:?} reference {want5:?}", &e[0][..5]);
    for (g, w) in e[0].iter().zip(&want5) {
        // 12-bit weights and inputs; the reference is rounded to 5 decimals.
        assert!((g - w).abs() <= 5e-4, "first values {:?} vs {want5:?}", &e[0][..5]);
    }
    for (t, emb) in others.iter().zip(&e[1..]) {
        let want = cosines[*t].as_f64().unwrap();
        let got = cosine(&e[0], emb);
        eprintln!("{first:?} <-> {t:?}: {got:.5} (reference {want})");
        assert!((got - want).abs() <= 0.001, "{t}: cosine {got} vs reference {want}");
    }
}

/// 64 texts of 2 to 31 words cut from the test prose, deterministic (as the GPU test's).
fn mixed_texts() -> Vec<String> {
    mixed_length_texts(&read_text("tests/fixtures/text/alice-chapter1.txt"))
}

#[test]
fn minilm_on_64_mixed_texts_stays_on_the_f32_oracle() {
    let enc = minilm();
    let (config, ..) = minilm_files();
    let oracle = CpuEncoder::from_safetensors(&config, &read(&format!("{MINILM}/model.safetensors"))).unwrap();
    let texts = mixed_texts();
    let inputs: Vec<EncoderInput> = texts.iter().map(|t| enc.text_input(t).unwrap()).collect();
    let tokens: usize = inputs.iter().map(EncoderInput::len).sum();
    assert!(tokens > CPU_ENCODER_BATCH_TOKENS, "{tokens} tokens should take several forward passes");
    let got = enc.embed_inputs(&inputs).unwrap();
    let mut worst = 1f64;
    for (input, g) in inputs.iter().zip(&got) {
        let want = oracle.embed(&input.ids, &input.type_ids, Pooling::Mean, true).unwrap();
        worst = worst.min(cosine(g, &want));
    }
    eprintln!("{tokens} tokens; lowest cosine with the f32 oracle: {worst:.6}");
    assert!(worst >= 0.9999, "lowest cosine {worst}");
}

/// Inputs of a tiny model: texts, or (query, document) pairs for a reranker.
fn tiny_inputs(enc: &QuantEncoder, reranker: bool) -> Vec<EncoderInput> {
    let pairs = [
        ("a man is eating food.", "a piece of bread"),
        ("the monkey", "playing drums on the device!"),
        ("what is the capital of france?", "paris"),
        ("x", "private search query"),
    ];
    pairs
        .iter()
        .map(|(a, b)| if reranker { enc.pair_input(a, b) } else { enc.text_input(&format!("{a} {b}")) })
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn tiny_models_of_every_layout_and_type_match_the_oracle() {
    let base = TinyBert::default();
    let cases = [
        ("bert f32", TinyBert { ..base.clone() }),
        ("bert f16", TinyBert { weight_type: GgmlType::F16, ..base.clone() }),
        ("bert q8_0", TinyBert { weight_type: GgmlType::Q8_0, ..base.clone() }),
        ("bert cls pooling, no types", TinyBert { pooling: Pooling::Cls, type_vocab: 0, seed: 4, ..base.clone() }),
        ("jina", TinyBert { jina: true, seed: 2, ..base.clone() }),
        ("reranker", TinyBert { classifier_labels: Some(1), seed: 3, ..base.clone() }),
        ("reranker, 3 labels", TinyBert { classifier_labels: Some(3), seed: 5, n_layers: 3, ..base.clone() }),
    ];
    for (name, o) in cases {
        let gguf = tiny_bert_gguf(&o).unwrap();
        let folder = tiny_bert_folder(&TinyBert {
            weight_type: if o.weight_type == GgmlType::F16 { GgmlType::BF16 } else { GgmlType::F32 },
            ..o.clone()
        })
        .unwrap();
        let from_folder = QuantEncoder::from_hf_files(&HfEncoderFiles {
            config_json: text(&folder, "config.json"),
            tokenizer_json: text(&folder, "tokenizer.json"),
            weights: file(&folder, "model.safetensors"),
            sentence_transformers: SentenceTransformersFiles::default(),
        })
        .unwrap();
        let layouts = [
            ("gguf", QuantEncoder::from_gguf(&gguf).unwrap(), CpuEncoder::from_gguf(&gguf).unwrap()),
            (
                "safetensors",
                from_folder,
                CpuEncoder::from_safetensors(text(&folder, "config.json"), file(&folder, "model.safetensors")).unwrap(),
            ),
        ];
        for (layout, enc, oracle) in layouts {
            let reranker = o.classifier_labels.is_some();
            assert_eq!(enc.is_reranker(), reranker, "{name} {layout}");
            let inputs = tiny_inputs(&enc, reranker);
            if reranker {
                let got = enc.classify_inputs(&inputs).unwrap();
                for (input, g) in inputs.iter().zip(&got) {
                    let want = oracle.classify(&input.ids, &input.type_ids).unwrap();
                    assert_eq!(g.len(), want.len());
                    for (a, b) in g.iter().zip(&want) {
                        assert!((a - b).abs() <= 0.002 * (1.0 + b.abs()), "{name} {layout}: scores {g:?} vs {want:?}");
                    }
                }
                assert!(matches!(enc.embed_inputs(&inputs), Err(NavajaError::UnsupportedModel(_))));
            } else {
                let pooling = enc.config().pooling;
                let got = enc.embed_inputs(&inputs).unwrap();
                for (input, g) in inputs.iter().zip(&got) {
                    let want = oracle.embed(&input.ids, &input.type_ids, pooling, enc.config().normalize).unwrap();
                    let c = cosine(g, &want);
                    assert!(c >= 0.9999, "{name} {layout}: cosine {c} with the oracle");
                }
                assert!(matches!(enc.classify_inputs(&inputs), Err(NavajaError::UnsupportedModel(_))));
            }
        }
    }
}

#[test]
fn batches_split_over_forward_passes_equal_each_input_alone() {
    let enc = QuantEncoder::from_gguf(&tiny_bert_gguf(&TinyBert::default()).unwrap()).unwrap();
    let words = ["the", "man", "is", "eating", "a", "piece", "of", "bread", "private", "query"];
    let texts: Vec<String> = (0..60)
        .map(|i| (0..(3 + i * 7 % 40)).map(|j| words[(i + j) % words.len()]).collect::<Vec<_>>().join(" "))
        .collect();
    let inputs: Vec<EncoderInput> = texts.iter().map(|t| enc.text_input(t).unwrap()).collect();
    let batches = enc.batches(&inputs).unwrap();
    assert!(
        batches.len() >= 2,
        "{} tokens in {} batches",
        inputs.iter().map(EncoderInput::len).sum::<usize>(),
        batches.len()
    );
    let together = enc.embed_inputs(&inputs).unwrap();
    for (i, input) in inputs.iter().enumerate() {
        assert_eq!(together[i], enc.embed_inputs(std::slice::from_ref(input)).unwrap()[0], "input {i}");
    }
    assert!(enc.embed_inputs(&[]).unwrap().is_empty());
}

#[test]
fn bad_input_is_a_typed_error_and_the_encoder_stays_usable() {
    let mut enc = QuantEncoder::from_gguf(&tiny_bert_gguf(&TinyBert::default()).unwrap()).unwrap();
    let good = enc.text_input("a man is eating food").unwrap();
    let want = enc.embed_inputs(std::slice::from_ref(&good)).unwrap();
    let bad = [
        EncoderInput { ids: vec![], type_ids: vec![] },
        EncoderInput { ids: vec![2, 9_999_999, 3], type_ids: vec![0, 0, 0] },
        EncoderInput { ids: vec![2, 3], type_ids: vec![0] },
        EncoderInput { ids: vec![2, 3], type_ids: vec![0, 7] },
        EncoderInput { ids: vec![5; 65], type_ids: vec![0; 65] },
    ];
    for input in bad {
        let e = enc.embed_inputs(&[good.clone(), input.clone()]).unwrap_err();
        assert!(matches!(e, NavajaError::InvalidArgument(_)), "{input:?}: {e}");
    }
    assert!(matches!(enc.set_pooling(Pooling::None), Err(NavajaError::InvalidArgument(_))));
    assert!(matches!(enc.rerank("q", &["d"]), Err(NavajaError::UnsupportedModel(_))));
    assert_eq!(enc.embed_inputs(&[good]).unwrap(), want);

    // Not an encoder, or not a whole file.
    let decoder = tiny_decoder_gguf(&TinyDecoder::default()).unwrap();
    assert!(matches!(QuantEncoder::from_gguf(&decoder), Err(NavajaError::UnsupportedModel(_))));
    let gguf = tiny_bert_gguf(&TinyBert::default()).unwrap();
    for cut in [10, gguf.len() / 2, gguf.len() - 1] {
        assert!(QuantEncoder::from_gguf(&gguf[..cut]).is_err(), "a file cut at {cut} bytes");
    }
    // Rows that are not whole 8-bit blocks.
    let odd = tiny_bert_gguf(&TinyBert { hidden: 48, n_heads: 4, ffn: 96, ..TinyBert::default() }).unwrap();
    assert!(matches!(QuantEncoder::from_gguf(&odd), Err(NavajaError::UnsupportedModel(_))));
}
