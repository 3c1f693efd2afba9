//! `navaja rerank`, `navaja embed` and `navaja bench-embed` as a user runs
//! them, on tiny random models written to disk (no real reranker weights
//! come from the registries): a BertForSequenceClassification folder and a
//! llama.cpp rank GGUF, scored against the CPU reference encoder.

use std::path::{Path, PathBuf};
use std::process::Command;

use navaja_core::encoder::{pair_input, text_input};
use navaja_core::model::Pooling;
use navaja_core::ops::pooling::cosine;
use navaja_core::quant::GgmlType;
use navaja_core::reference::CpuEncoder;
use navaja_core::testing::{TinyBert, tiny_bert_folder, tiny_bert_gguf};
use navaja_core::tokenizer::Tokenizer;
use serde_json::Value;

const DOCS: &[&str] = &["paris is the capital of france", "the monkey is playing drums", "a man is eating bread", ""];
const QUERY: &str = "what is the capital of france?";

/// A fresh directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("navaja-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_folder(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

fn navaja(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_navaja")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_ok(args: &[&str]) -> Value {
    let (ok, stdout, stderr) = navaja(args);
    assert!(ok, "navaja {args:?} failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Checks `navaja rerank --json` on `model` against the CPU reference.
fn check_rerank(model: &Path, cpu: &CpuEncoder, tok: &Tokenizer) {
    let mut args = vec!["rerank", "--json", "--model", model.to_str().unwrap(), "--query", QUERY];
    args.extend(DOCS);
    let out = json_ok(&args);
    let scores: Vec<f32> = serde_json::from_value(out["scores"].clone()).unwrap();
    assert_eq!(scores.len(), DOCS.len());
    for (doc, got) in DOCS.iter().zip(&scores) {
        let input = pair_input(tok, QUERY, doc, 64, 1).unwrap();
        let want = cpu.classify(&input.ids, &input.type_ids).unwrap()[0];
        assert!((got - want).abs() < 2e-4 * (1.0 + want.abs()), "{doc:?}: navaja {got} vs reference {want}");
    }
    // Results come best first and name their documents.
    let results = out["results"].as_array().unwrap();
    let ranked: Vec<f64> = results.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(ranked.windows(2).all(|w| w[0] >= w[1]), "{ranked:?}");
    let best = results[0]["index"].as_u64().unwrap() as usize;
    assert_eq!(results[0]["document"], DOCS[best]);
}

#[test]
fn rerank_scores_match_the_cpu_reference_for_both_layouts() {
    let o = TinyBert { classifier_labels: Some(1), seed: 31, ..TinyBert::default() };
    let folder = tiny_bert_folder(&o).unwrap();
    let dir = temp_dir("reranker");
    write_folder(&dir, &folder);
    let text = |name: &str| String::from_utf8(folder.iter().find(|(n, _)| n == name).unwrap().1.clone()).unwrap();
    let tok = Tokenizer::from_tokenizer_json(&text("tokenizer.json")).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let cpu = CpuEncoder::from_safetensors(&text("config.json"), &weights).unwrap();
    check_rerank(&dir, &cpu, &tok);

    let gguf = tiny_bert_gguf(&TinyBert { weight_type: GgmlType::Q8_0, ..o }).unwrap();
    let path = dir.join("reranker-q8_0.gguf");
    std::fs::write(&path, &gguf).unwrap();
    check_rerank(&path, &CpuEncoder::from_gguf(&gguf).unwrap(), &tok);

    // An embedding request to a reranker, and no documents, are clear errors.
    let (ok, _, stderr) = navaja(&["embed", "--model", path.to_str().unwrap(), "x"]);
    assert!(!ok && stderr.contains("error [unsupported-model]") && stderr.contains("cross-encoder"), "{stderr}");
    let (ok, _, stderr) = navaja(&["rerank", "--model", path.to_str().unwrap(), "--query", "q"]);
    assert!(!ok && stderr.contains("error [invalid-argument]"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn embed_gguf_and_bench_embed_report_json() {
    let o = TinyBert { weight_type: GgmlType::F16, pooling: Pooling::Cls, seed: 32, ..TinyBert::default() };
    let gguf = tiny_bert_gguf(&o).unwrap();
    let dir = temp_dir("embedder");
    let path = dir.join("tiny-f16.gguf");
    std::fs::write(&path, &gguf).unwrap();
    let model = path.to_str().unwrap();
    let out = json_ok(&["embed", "--json", "--similarity", "--model", model, "the man", "a monkey", "the man"]);
    assert_eq!(out["model"], "tiny-f16.gguf");
    assert_eq!(out["dim"], 64);
    assert_eq!(out["pooling"], "cls");
    let e: Vec<Vec<f32>> = serde_json::from_value(out["embeddings"].clone()).unwrap();
    let cpu = CpuEncoder::from_gguf(&gguf).unwrap();
    let tok = Tokenizer::from_gguf(&navaja_core::gguf::GgufHeader::parse(&gguf).unwrap().metadata).unwrap();
    for (text, got) in ["the man", "a monkey"].iter().zip(&e) {
        let input = text_input(&tok, text, 64).unwrap();
        let want = cpu.embed(&input.ids, &input.type_ids, Pooling::Cls, true).unwrap();
        assert!(cosine(got, &want) > 0.99999, "{text}");
    }
    assert!((out["similarity"][0][2].as_f64().unwrap() - 1.0).abs() < 1e-6);
    // --pooling overrides the file's pooling.
    let mean = json_ok(&["embed", "--json", "--pooling", "mean", "--model", model, "the man"]);
    assert_eq!(mean["pooling"], "mean");

    let bench = json_ok(&["bench-embed", "--model", model, "--batch", "4", "--runs", "2", "--words", "5"]);
    assert_eq!(bench["batch"], 4);
    for key in ["texts_per_s", "tokens_per_s", "batch_ms", "single_text_ms"] {
        assert!(bench[key]["median"].as_f64().unwrap() > 0.0, "{key}: {bench}");
        assert_eq!(bench[key]["runs"], 2);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
