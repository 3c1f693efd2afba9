//! The CPU encoder (the GPU encoder's oracle) and the encoder inputs.
//!
//! - all-MiniLM-L6-v2 against the independent numpy forward pass
//!   (tests/fixtures/reference: minilm_numpy.py's first embedding values and
//!   cosine similarities), which validates the reference itself.
//! - Tiny random models written in both layouts (safetensors folder with HF
//!   names, GGUF with llama.cpp names) from the same random values: the
//!   name maps of both readers must give identical outputs, for BERT,
//!   JinaBERT (fused vs split GEGLU) and a reranker head (prefixed HF names).

use navaja_core::encoder::{EncoderConfig, SentenceTransformersFiles, pair_input, text_input};
use navaja_core::model::{ModelSpec, Pooling};
use navaja_core::ops::pooling::cosine;
use navaja_core::reference::CpuEncoder;
use navaja_core::safetensors::SafetensorsFile;
use navaja_core::testing::{TINY_BERT_CLS, TINY_BERT_SEP, TinyBert, tiny_bert_folder, tiny_bert_gguf};
use navaja_core::tokenizer::Tokenizer;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn read(rel: &str) -> Vec<u8> {
    let path = format!("{ROOT}/{rel}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}; run scripts/setup.sh"))
}

fn file<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &files.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1
}

fn text(files: &[(String, Vec<u8>)], name: &str) -> String {
    String::from_utf8(file(files, name).to_vec()).unwrap()
}

#[test]
fn minilm_matches_the_numpy_reference() {
    let reference: serde_json::Value =
        serde_json::from_slice(&read("tests/fixtures/reference/reference.json")).unwrap();
    let r = &reference["all-minilm-l6-v2"];
    let config = String::from_utf8(read("models/all-MiniLM-L6-v2/config.json")).unwrap();
    let enc = CpuEncoder::from_safetensors(&config, &read("models/all-MiniLM-L6-v2/model.safetensors")).unwrap();
    let tok =
        Tokenizer::from_tokenizer_json(&String::from_utf8(read("models/all-MiniLM-L6-v2/tokenizer.json")).unwrap())
            .unwrap();
    let first = r["cosine_with_first"]["first"].as_str().unwrap();
    let embed = |s: &str| {
        let input = text_input(&tok, s, 256).unwrap();
        enc.embed(&input.ids, &input.type_ids, Pooling::Mean, true).unwrap()
    };
    let want_ids: Vec<u32> = serde_json::from_value(r["tokens"][first].clone()).unwrap();
    assert_eq!(text_input(&tok, first, 256).unwrap().ids, want_ids);
    let e0 = embed(first);
    let want5: Vec<f32> = serde_json::from_value(r["embedding_first5"][first].clone()).unwrap();
    for (g, w) in e0.iter().zip(&want5) {
        assert!((g - w).abs() < 1e-4, "first values {:?} vs {want5:?}", &e0[..5]);
    }
    for (sentence, want) in r["cosine_with_first"].as_object().unwrap() {
        let Some(want) = want.as_f64() else { continue };
        let got = cosine(&e0, &embed(sentence));
        assert!((got - want).abs() < 1e-3, "{sentence}: cosine {got} vs reference {want}");
    }
}

/// Embeds a few inputs with the model of `o` in both layouts; they must agree.
fn both_layouts_agree(o: &TinyBert) {
    let folder = tiny_bert_folder(o).unwrap();
    let from_st =
        CpuEncoder::from_safetensors(&text(&folder, "config.json"), file(&folder, "model.safetensors")).unwrap();
    let from_gguf = CpuEncoder::from_gguf(&tiny_bert_gguf(o).unwrap()).unwrap();
    let tok = Tokenizer::from_tokenizer_json(&text(&folder, "tokenizer.json")).unwrap();
    for (a, b) in [("a man is eating food.", ""), ("the monkey", "playing drums on the device!"), ("", "x")] {
        let input = if o.classifier_labels.is_some() {
            pair_input(&tok, a, b, 64, 1).unwrap()
        } else {
            text_input(&tok, &format!("{a} {b}"), 64).unwrap()
        };
        let (x, y) = match o.classifier_labels {
            Some(_) => (from_st.classify(&input.ids, &input.type_ids), from_gguf.classify(&input.ids, &input.type_ids)),
            None => (
                from_st.embed(&input.ids, &input.type_ids, o.pooling, true),
                from_gguf.embed(&input.ids, &input.type_ids, o.pooling, true),
            ),
        };
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x, y, "{o:?}: {a:?} {b:?}");
        assert!(x.iter().all(|v| v.is_finite()) && x.iter().any(|&v| v != 0.0));
    }
}

#[test]
fn tiny_bert_layouts_agree() {
    both_layouts_agree(&TinyBert::default());
    both_layouts_agree(&TinyBert { pooling: Pooling::Cls, type_vocab: 0, seed: 3, ..TinyBert::default() });
}

#[test]
fn tiny_jina_layouts_agree() {
    both_layouts_agree(&TinyBert { jina: true, seed: 5, ..TinyBert::default() });
}

#[test]
fn tiny_reranker_layouts_agree() {
    both_layouts_agree(&TinyBert { classifier_labels: Some(1), seed: 7, ..TinyBert::default() });
}

#[test]
fn specs_and_configs_of_tiny_models() {
    let o = TinyBert { classifier_labels: Some(1), ..TinyBert::default() };
    let gguf = tiny_bert_gguf(&o).unwrap();
    let spec = ModelSpec::from_gguf(&navaja_core::gguf::GgufHeader::parse(&gguf).unwrap()).unwrap();
    let b = spec.bert.as_ref().unwrap();
    assert_eq!((b.classifier_labels, b.pooling), (Some(1), Pooling::Cls));
    let cfg = EncoderConfig::from_gguf_spec(&spec).unwrap();
    assert_eq!((cfg.pooling, cfg.normalize, cfg.max_tokens), (Pooling::Cls, false, 64));

    let jina = TinyBert { jina: true, ..TinyBert::default() };
    let folder = tiny_bert_folder(&jina).unwrap();
    let st = SafetensorsFile::parse(file(&folder, "model.safetensors")).unwrap();
    let spec = ModelSpec::from_safetensors(&text(&folder, "config.json"), &st).unwrap();
    let b = spec.bert.as_ref().unwrap();
    assert_eq!((b.alibi_max_bias, b.max_position_embeddings, spec.ffn_gated), (Some(8.0), 0, true));
    println!("{}", spec.summary());

    // sentence-transformers files: pooling and normalisation; a folder whose
    // modules.json names a missing pooling config is incomplete.
    let folder =
        tiny_bert_folder(&TinyBert { pooling: Pooling::Cls, normalize: false, ..TinyBert::default() }).unwrap();
    let st = SafetensorsFile::parse(file(&folder, "model.safetensors")).unwrap();
    let spec = ModelSpec::from_safetensors(&text(&folder, "config.json"), &st).unwrap();
    let modules = text(&folder, "modules.json");
    let pooling = text(&folder, "1_Pooling/config.json");
    let st_config = text(&folder, "sentence_bert_config.json");
    let files = SentenceTransformersFiles {
        modules_json: Some(&modules),
        pooling_json: Some(&pooling),
        sentence_bert_config_json: Some(&st_config),
    };
    let cfg = EncoderConfig::from_sentence_transformers(&spec, &files).unwrap();
    assert_eq!((cfg.pooling, cfg.normalize, cfg.max_tokens), (Pooling::Cls, false, 64));
    let missing = SentenceTransformersFiles { pooling_json: None, ..files };
    let err = EncoderConfig::from_sentence_transformers(&spec, &missing).unwrap_err();
    assert_eq!(err.code(), "model-format");
    assert!(err.to_string().contains("1_Pooling/config.json is missing"), "{err}");
    let plain = EncoderConfig::from_sentence_transformers(&spec, &SentenceTransformersFiles::default()).unwrap();
    assert_eq!((plain.pooling, plain.normalize), (Pooling::Mean, false));
}

#[test]
fn inputs_are_wrapped_and_truncated() {
    let folder = tiny_bert_folder(&TinyBert::default()).unwrap();
    let tok = Tokenizer::from_tokenizer_json(&text(&folder, "tokenizer.json")).unwrap();
    let gguf_tok = Tokenizer::from_gguf(
        &navaja_core::gguf::GgufHeader::parse(&tiny_bert_gguf(&TinyBert::default()).unwrap()).unwrap().metadata,
    )
    .unwrap();
    let (cls, sep) = (TINY_BERT_CLS, TINY_BERT_SEP);
    for t in [&tok, &gguf_tok] {
        // An empty text is [CLS] [SEP], as in sentence-transformers.
        assert_eq!(text_input(t, "", 8).unwrap().ids, vec![cls, sep]);
        let long = text_input(t, "the man is eating the food of the city", 6).unwrap();
        assert_eq!(long.ids.len(), 6);
        assert_eq!((long.ids[0], long.ids[5]), (cls, sep));
        assert_eq!(long.ids, tok.encode("the man is eating", true, false).unwrap());
        // Pairs: segment 1 after the first [SEP]; the longer part loses tokens first.
        let p = pair_input(t, "the man", "is eating the food of the city", 8, 1).unwrap();
        assert_eq!(p.ids.len(), 8);
        assert_eq!(p.type_ids, vec![0, 0, 0, 0, 1, 1, 1, 1]);
        assert_eq!(
            &p.ids[..4],
            &[cls, t.encode("the", false, false).unwrap()[0], t.encode("man", false, false).unwrap()[0], sep]
        );
        assert_eq!(text_input(t, "x", 2).unwrap_err().code(), "invalid-argument");
    }
}
