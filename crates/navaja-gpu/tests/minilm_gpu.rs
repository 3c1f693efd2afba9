//! all-MiniLM-L6-v2 (the real sentence-transformers folder from
//! scripts/setup.sh) on the GPU against the independent f32 numpy reference
//! (tests/fixtures/reference/reference.json, from minilm_numpy.py): the
//! first embedding values and the cosine similarities of the reference
//! sentences; the same model converted to GGUF (F16, Q8_0) with llama.cpp's
//! own bert-bge vocabulary file; and a batch of 64 texts of mixed lengths
//! against each text embedded alone. A missing model fails the test.

use std::path::PathBuf;
use std::sync::Arc;

use navaja_core::encoder::SentenceTransformersFiles;
use navaja_core::gguf::GgufHeader;
use navaja_core::model::Pooling;
use navaja_core::ops::pooling::cosine;
use navaja_core::quant::GgmlType;
use navaja_core::testing::{bert_gguf_from_safetensors, mixed_length_texts};
use navaja_gpu::encoder::{Encoder, EncoderOptions, HfEncoderFiles, load_encoder_gguf, load_encoder_safetensors};

mod common;
use common::gpu;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> Vec<u8> {
    let path = repo().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}; run scripts/setup.sh", path.display()))
}

fn minilm() -> Encoder {
    let dir = "models/all-MiniLM-L6-v2";
    let s = |name: &str| String::from_utf8(read(&format!("{dir}/{name}"))).unwrap();
    let (config, tokenizer, modules, pooling, st) = (
        s("config.json"),
        s("tokenizer.json"),
        s("modules.json"),
        s("1_Pooling/config.json"),
        s("sentence_bert_config.json"),
    );
    let weights = read(&format!("{dir}/model.safetensors"));
    let files = HfEncoderFiles {
        config_json: &config,
        tokenizer_json: &tokenizer,
        weights: &weights,
        sentence_transformers: SentenceTransformersFiles {
            modules_json: Some(&modules),
            pooling_json: Some(&pooling),
            sentence_bert_config_json: Some(&st),
        },
    };
    let loaded = load_encoder_safetensors(gpu(), &files).unwrap();
    pollster::block_on(Encoder::new(Arc::clone(gpu()), loaded, &EncoderOptions::default())).unwrap()
}

#[test]
fn embeddings_match_the_numpy_reference() {
    let reference: serde_json::Value =
        serde_json::from_slice(&read("tests/fixtures/reference/reference.json")).unwrap();
    let r = &reference["all-minilm-l6-v2"];
    let mut enc = minilm();
    let cfg = enc.config().clone();
    assert_eq!((enc.dim(), cfg.max_tokens, cfg.normalize), (384, 256, true));
    let cosines = r["cosine_with_first"].as_object().unwrap();
    let first = cosines["first"].as_str().unwrap();
    let others: Vec<&str> = cosines.keys().map(String::as_str).filter(|k| *k != "first").collect();
    let mut texts = vec![first];
    texts.extend(&others);
    let e = pollster::block_on(enc.embed(&texts)).unwrap();
    let want_ids: Vec<u32> = serde_json::from_value(r["tokens"][first].clone()).unwrap();
    assert_eq!(enc.text_input(first).unwrap().ids, want_ids);
    let want5: Vec<f32> = serde_json::from_value(r["embedding_first5"][first].clone()).unwrap();
    eprintln!("first values {:?} reference {want5:?}", &e[0][..5]);
    for (g, w) in e[0].iter().zip(&want5) {
        // The reference is rounded to 5 decimals.
        assert!((g - w).abs() <= 2e-5, "first values {:?} vs {want5:?}", &e[0][..5]);
    }
    for (text, emb) in others.iter().zip(&e[1..]) {
        let want = cosines[*text].as_f64().unwrap();
        let got = cosine(&e[0], emb);
        eprintln!("{first:?} <-> {text:?}: {got:.5} (reference {want})");
        assert!((got - want).abs() <= 0.002, "{text}: cosine {got} vs reference {want}");
    }
}

/// 64 texts of 2 to 31 words cut from the test prose, deterministic.
fn mixed_texts() -> Vec<String> {
    mixed_length_texts(&String::from_utf8(read("tests/fixtures/text/alice-chapter1.txt")).unwrap())
}

#[test]
fn a_batch_of_64_mixed_texts_equals_each_text_alone() {
    let mut enc = minilm();
    let texts = mixed_texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let lens: Vec<usize> = refs.iter().map(|t| enc.text_input(t).unwrap().len()).collect();
    eprintln!("token counts {lens:?}");
    assert!(lens.iter().min() < Some(&8) && lens.iter().max() > Some(&35), "lengths should be mixed");
    let batch = pollster::block_on(enc.embed(&refs)).unwrap();
    let mut worst = 1f64;
    for (t, b) in refs.iter().zip(&batch) {
        let alone = pollster::block_on(enc.embed(&[t])).unwrap();
        worst = worst.min(cosine(b, &alone[0]));
    }
    eprintln!("lowest cosine batch vs alone: {worst:.9}");
    assert!(worst >= 0.9999, "lowest cosine {worst}");
}

#[test]
fn gguf_f16_and_q8_0_conversions_stay_close_to_the_reference() {
    let reference: serde_json::Value =
        serde_json::from_slice(&read("tests/fixtures/reference/reference.json")).unwrap();
    let cosines = reference["all-minilm-l6-v2"]["cosine_with_first"].as_object().unwrap();
    let texts: Vec<&str> = std::iter::once(cosines["first"].as_str().unwrap())
        .chain(cosines.keys().map(String::as_str).filter(|k| *k != "first"))
        .collect();
    let f32_embeddings = pollster::block_on(minilm().embed(&texts)).unwrap();

    let config = String::from_utf8(read("models/all-MiniLM-L6-v2/config.json")).unwrap();
    let weights = read("models/all-MiniLM-L6-v2/model.safetensors");
    let vocab = read("models/llama-vocab/ggml-vocab-bert-bge.gguf");
    let vocab = GgufHeader::parse(&vocab).unwrap().metadata;
    // (type, lowest cosine with the f32 embedding, largest cosine-similarity error vs the reference)
    for (ty, min_cos, max_err) in [(GgmlType::F16, 0.99999, 0.002), (GgmlType::Q8_0, 0.999, 0.005)] {
        let gguf = bert_gguf_from_safetensors(&config, &weights, &vocab, Pooling::Mean, ty).unwrap();
        let loaded = load_encoder_gguf(gpu(), &gguf).unwrap();
        let mut enc = pollster::block_on(Encoder::new(Arc::clone(gpu()), loaded, &EncoderOptions::default())).unwrap();
        assert_eq!((enc.config().pooling, enc.config().normalize), (Pooling::Mean, true));
        let e = pollster::block_on(enc.embed(&texts)).unwrap();
        for (i, (g, f)) in e.iter().zip(&f32_embeddings).enumerate() {
            let c = cosine(g, f);
            eprintln!("{ty:?} text {i}: cosine with the f32 folder's embedding {c:.7}");
            assert!(c >= min_cos, "{ty:?} text {i}: {c}");
        }
        for (text, emb) in texts[1..].iter().zip(&e[1..]) {
            let (got, want) = (cosine(&e[0], emb), cosines[*text].as_f64().unwrap());
            eprintln!("{ty:?} {text:?}: {got:.5} (reference {want})");
            assert!((got - want).abs() <= max_err, "{ty:?} {text}: {got} vs {want}");
        }
    }
}
