//! Hugging Face `tokenizer.json` loading for byte-level BPE. No BPE
//! `tokenizer.json` ships with the fetched models, so the files are rebuilt
//! from the suite's GGUF vocabularies (vocabulary, merges, added tokens and
//! the model's pre-tokenizer as its `tokenizer.json` states it) and must
//! reproduce llama.cpp's expectations for those vocabularies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use navaja_core::gguf::{GgufArray, GgufHeader, Metadata};
use navaja_core::tokenizer::{Tokenizer, TokenizerKind};
use serde_json::{Value, json};

fn suite(name: &str) -> (Metadata, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../models/llama-vocab/ggml-vocab-{name}.gguf"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh to fetch llama.cpp's vocab suite", path.display()));
    (GgufHeader::parse(&bytes).unwrap().metadata, path)
}

fn cases(path: &Path) -> BTreeMap<String, Vec<u32>> {
    let raw = std::fs::read_to_string(path.with_extension("gguf.inp")).unwrap();
    let out = std::fs::read_to_string(path.with_extension("gguf.out")).unwrap();
    let mut inputs: Vec<&str> = raw.split("\n__ggml_vocab_test__\n").collect();
    if inputs.last() == Some(&"") {
        inputs.pop();
    }
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(inputs.len(), lines.len());
    inputs
        .into_iter()
        .zip(lines)
        .map(|(i, o)| (i.to_string(), o.split_whitespace().map(|t| t.parse().unwrap()).collect()))
        .collect()
}

/// A tokenizer.json equivalent to a GGUF vocabulary.
fn tokenizer_json(meta: &Metadata, pre_tokenizer: Value, ignore_merges: bool, bos: Option<&str>) -> String {
    let Some(GgufArray::String(tokens)) = meta.get_array("tokenizer.ggml.tokens").unwrap() else { panic!() };
    let Some(GgufArray::String(merges)) = meta.get_array("tokenizer.ggml.merges").unwrap() else { panic!() };
    let Some(GgufArray::I32(types)) = meta.get_array("tokenizer.ggml.token_type").unwrap() else { panic!() };
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match types[i] {
            3 | 4 => added.push(json!({"id": i, "content": t, "special": types[i] == 3})),
            _ => {
                vocab.insert(t.clone(), json!(i));
            }
        }
    }
    let post = match bos {
        Some(b) => json!({
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": b, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "special_tokens": {b: {"id": b, "ids": [tokens.iter().position(|t| t == b).unwrap()], "tokens": [b]}}
        }),
        None => json!({"type": "ByteLevel"}),
    };
    json!({
        "version": "1.0",
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post,
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": merges, "ignore_merges": ignore_merges}
    })
    .to_string()
}

fn check(name: &str, t: &Tokenizer, path: &Path) {
    assert_eq!(t.kind(), TokenizerKind::Bpe);
    let cases = cases(path);
    let failed: Vec<_> = cases.iter().filter(|(text, want)| &t.encode(text, false, false).unwrap() != *want).collect();
    println!("{name} via tokenizer.json: {}/{} cases pass", cases.len() - failed.len(), cases.len());
    assert!(failed.is_empty(), "{name}: {failed:?}");
}

#[test]
fn gpt2_tokenizer_json_matches_llama_cpp() {
    let (meta, path) = suite("gpt-2");
    let pre = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let t = Tokenizer::from_tokenizer_json(&tokenizer_json(&meta, pre, false, None)).unwrap();
    check("gpt-2", &t, &path);
    let eot = t.token_id("<|endoftext|>").unwrap();
    assert!(t.is_eog(eot));
}

#[test]
fn llama3_tokenizer_json_matches_llama_cpp() {
    let (meta, path) = suite("llama-bpe");
    // Llama 3's tokenizer.json, with its case-insensitive contractions.
    let pre = json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
    ]});
    let t = Tokenizer::from_tokenizer_json(&tokenizer_json(&meta, pre, true, Some("<|begin_of_text|>"))).unwrap();
    check("llama-bpe", &t, &path);
    let bos = t.token_id("<|begin_of_text|>").unwrap();
    assert_eq!(t.encode("Hi", true, false).unwrap()[0], bos);
    assert_eq!(t.decode_skip_special(&t.encode("Hello world", true, false).unwrap()).unwrap(), "Hello world");
}

#[test]
fn unsupported_tokenizer_json_is_reported() {
    let err = Tokenizer::from_tokenizer_json(r#"{"model": {"type": "Unigram", "vocab": []}}"#).unwrap_err();
    assert_eq!(err.code(), "unsupported-model");
    let err = Tokenizer::from_tokenizer_json("not json").unwrap_err();
    assert_eq!(err.code(), "model-format");
}
