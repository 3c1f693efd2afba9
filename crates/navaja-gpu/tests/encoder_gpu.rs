//! The GPU encoder on tiny random models against the CPU encoder
//! (navaja_core::reference::CpuEncoder): BERT from GGUF (F32, F16, Q8_0) and
//! from safetensors folders (F32, F16, BF16), JinaBERT (ALiBi, GEGLU), a
//! cross-encoder reranker, batches that split into several chunks, and bad
//! input. No adapter is a failure, never a skip.

use std::sync::Arc;

use navaja_core::encoder::{EncoderInput, SentenceTransformersFiles, pair_input};
use navaja_core::model::Pooling;
use navaja_core::ops::pooling::cosine;
use navaja_core::quant::GgmlType;
use navaja_core::reference::CpuEncoder;
use navaja_core::testing::{TinyBert, tiny_bert_folder, tiny_bert_gguf};
use navaja_gpu::encoder::{Encoder, EncoderOptions, HfEncoderFiles, load_encoder_gguf, load_encoder_safetensors};

mod common;
use common::gpu;

const TEXTS: &[&str] = &[
    "A man is eating food.",
    "",
    "the monkey is playing drums on the device",
    "what is the capital of france? paris!",
    "x",
    "search private documents on device, query the city of paris, eat bread and watch a new awesome movie",
];

fn text(files: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    files.iter().find(|(n, _)| n == name).map(|(_, b)| String::from_utf8(b.clone()).unwrap())
}

fn bytes<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &files.iter().find(|(n, _)| n == name).unwrap().1
}

/// The GPU encoder and the CPU reference of one tiny model.
enum Source {
    Gguf,
    Folder,
}

fn load(o: &TinyBert, source: &Source, opts: &EncoderOptions) -> (Encoder, CpuEncoder) {
    let gpu = gpu();
    match source {
        Source::Gguf => {
            let file = tiny_bert_gguf(o).unwrap();
            let loaded = load_encoder_gguf(gpu, &file).unwrap();
            (
                pollster::block_on(Encoder::new(Arc::clone(gpu), loaded, opts)).unwrap(),
                CpuEncoder::from_gguf(&file).unwrap(),
            )
        }
        Source::Folder => {
            let f = tiny_bert_folder(o).unwrap();
            let (config, tokenizer) = (text(&f, "config.json").unwrap(), text(&f, "tokenizer.json").unwrap());
            let (modules, pooling, st) =
                (text(&f, "modules.json"), text(&f, "1_Pooling/config.json"), text(&f, "sentence_bert_config.json"));
            let files = HfEncoderFiles {
                config_json: &config,
                tokenizer_json: &tokenizer,
                weights: bytes(&f, "model.safetensors"),
                sentence_transformers: SentenceTransformersFiles {
                    modules_json: modules.as_deref(),
                    pooling_json: pooling.as_deref(),
                    sentence_bert_config_json: st.as_deref(),
                },
            };
            let loaded = load_encoder_safetensors(gpu, &files).unwrap();
            let cpu = CpuEncoder::from_safetensors(&config, bytes(&f, "model.safetensors")).unwrap();
            (pollster::block_on(Encoder::new(Arc::clone(gpu), loaded, opts)).unwrap(), cpu)
        }
    }
}

/// Embeds TEXTS on both and compares them one by one.
fn embeddings_match(o: &TinyBert, source: Source, min_cosine: f64) {
    let (mut enc, cpu) = load(o, &source, &EncoderOptions::default());
    let got = pollster::block_on(enc.embed(TEXTS)).unwrap();
    assert_eq!(got.len(), TEXTS.len());
    let cfg = enc.config().clone();
    for (text, g) in TEXTS.iter().zip(&got) {
        let input = enc.text_input(text).unwrap();
        let want = cpu.embed(&input.ids, &input.type_ids, cfg.pooling, cfg.normalize).unwrap();
        let c = cosine(g, &want);
        let max_err = g.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        eprintln!("{:?} {:?} {text:?}: cosine {c:.9}, max abs error {max_err:e}", o.weight_type, o.pooling);
        assert!(c >= min_cosine, "{o:?}: {text:?}: cosine {c}");
        if cfg.normalize {
            let norm: f64 = g.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        }
    }
}

#[test]
fn tiny_bert_gguf_matches_cpu_reference() {
    // The CPU reference computes with the same (dequantized) weights: only f32 rounding differs.
    for (ty, pooling) in
        [(GgmlType::F32, Pooling::Mean), (GgmlType::F16, Pooling::Cls), (GgmlType::Q8_0, Pooling::Mean)]
    {
        let o = TinyBert { weight_type: ty, pooling, seed: 11, ..TinyBert::default() };
        embeddings_match(&o, Source::Gguf, 0.99999);
    }
}

#[test]
fn tiny_bert_folder_matches_cpu_reference() {
    for (ty, pooling) in
        [(GgmlType::F32, Pooling::Mean), (GgmlType::F16, Pooling::Last), (GgmlType::BF16, Pooling::Mean)]
    {
        let o = TinyBert { weight_type: ty, pooling, seed: 12, ..TinyBert::default() };
        embeddings_match(&o, Source::Folder, 0.99999);
    }
    // Sizes that are no multiple of any workgroup: hidden 36 (3 heads of 12), ffn 52, no token types, no normalisation.
    let odd =
        TinyBert { hidden: 36, n_heads: 3, ffn: 52, type_vocab: 0, normalize: false, seed: 13, ..TinyBert::default() };
    embeddings_match(&odd, Source::Folder, 0.99999);
}

#[test]
fn tiny_jina_matches_cpu_reference() {
    let o = TinyBert { jina: true, seed: 14, ..TinyBert::default() };
    embeddings_match(&o, Source::Folder, 0.99999);
    embeddings_match(&TinyBert { weight_type: GgmlType::Q8_0, ..o }, Source::Gguf, 0.99999);
}

#[test]
fn tiny_reranker_matches_cpu_reference() {
    for (source, ty) in [(Source::Folder, GgmlType::F32), (Source::Gguf, GgmlType::Q8_0)] {
        let o = TinyBert { classifier_labels: Some(1), weight_type: ty, seed: 15, ..TinyBert::default() };
        let (mut enc, cpu) = load(&o, &source, &EncoderOptions::default());
        assert!(enc.is_reranker());
        let query = "what is the capital of france?";
        let scores = pollster::block_on(enc.rerank(query, &TEXTS[2..])).unwrap();
        assert_eq!(scores.len(), TEXTS.len() - 2);
        for (doc, got) in TEXTS[2..].iter().zip(&scores) {
            let input = pair_input(enc.tokenizer(), query, doc, enc.config().max_tokens, 1).unwrap();
            let want = cpu.classify(&input.ids, &input.type_ids).unwrap()[0];
            eprintln!("{ty:?} rerank {doc:?}: gpu {got} cpu {want}");
            assert!((got - want).abs() < 2e-4 * (1.0 + want.abs()), "{doc:?}: gpu {got} vs cpu {want}");
        }
        // An embedding call on a reranker, and a rerank call on an embedder, are clear errors.
        assert_eq!(pollster::block_on(enc.embed(&["x"])).unwrap_err().code(), "unsupported-model");
    }
    let (mut embedder, _) = load(&TinyBert::default(), &Source::Gguf, &EncoderOptions::default());
    assert_eq!(pollster::block_on(embedder.rerank("q", &["d"])).unwrap_err().code(), "unsupported-model");
    // A GGUF without pooling embeds once a pooling is chosen.
    let (mut tokens_only, cpu) =
        load(&TinyBert { pooling: Pooling::None, ..TinyBert::default() }, &Source::Gguf, &EncoderOptions::default());
    assert_eq!(pollster::block_on(tokens_only.embed(&["x"])).unwrap_err().code(), "invalid-argument");
    assert_eq!(tokens_only.set_pooling(Pooling::None).unwrap_err().code(), "invalid-argument");
    tokens_only.set_pooling(Pooling::Cls).unwrap();
    let got = pollster::block_on(tokens_only.embed(&["the man"])).unwrap();
    let input = tokens_only.text_input("the man").unwrap();
    assert!(cosine(&got[0], &cpu.embed(&input.ids, &input.type_ids, Pooling::Cls, true).unwrap()) > 0.99999);
}

#[test]
fn batches_split_into_chunks_give_the_same_embeddings() {
    // 40 texts through batches of at most 64 rows (several chunks), against each text alone.
    let o = TinyBert { seed: 16, ..TinyBert::default() };
    let (mut enc, _) = load(&o, &Source::Gguf, &EncoderOptions { max_batch_tokens: 64 });
    assert_eq!(enc.max_batch_tokens(), 64);
    let texts: Vec<String> = (0..40).map(|i| TEXTS[i % TEXTS.len()].repeat(1 + i % 3)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = pollster::block_on(enc.embed(&refs)).unwrap();
    for (t, b) in refs.iter().zip(&batch) {
        let alone = pollster::block_on(enc.embed(&[t])).unwrap();
        let c = cosine(b, &alone[0]);
        assert!(c >= 0.999999, "{t:?}: cosine {c}");
    }
    assert!(pollster::block_on(enc.embed(&[])).unwrap().is_empty());
}

#[test]
fn long_texts_are_truncated_and_bad_inputs_are_errors() {
    let o = TinyBert { max_positions: 16, seed: 17, ..TinyBert::default() };
    let (mut enc, cpu) = load(&o, &Source::Folder, &EncoderOptions::default());
    assert_eq!(enc.config().max_tokens, 16);
    let long = "the man is eating food ".repeat(20);
    let input = enc.text_input(&long).unwrap();
    assert_eq!(input.len(), 16);
    let got = pollster::block_on(enc.embed(&[&long])).unwrap();
    let want = cpu.embed(&input.ids, &input.type_ids, Pooling::Mean, true).unwrap();
    assert!(cosine(&got[0], &want) > 0.99999);

    let mut code = |inputs: Vec<EncoderInput>| pollster::block_on(enc.embed_inputs(&inputs)).unwrap_err().code();
    let input = |ids: Vec<u32>, types: Vec<u32>| EncoderInput { ids, type_ids: types };
    assert_eq!(code(vec![input(vec![], vec![])]), "invalid-argument");
    assert_eq!(code(vec![input(vec![2; 17], vec![0; 17])]), "invalid-argument", "past the positions");
    assert_eq!(code(vec![input(vec![2, 9999], vec![0, 0])]), "invalid-argument", "past the vocabulary");
    assert_eq!(code(vec![input(vec![2, 3], vec![0, 2])]), "invalid-argument", "past the token types");
    assert_eq!(code(vec![input(vec![2, 3], vec![0])]), "invalid-argument");
    // The encoder still works afterwards.
    assert_eq!(pollster::block_on(enc.embed(&["x"])).unwrap().len(), 1);
    gpu().check_health().unwrap();
}
