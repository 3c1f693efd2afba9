//! Writes the encoder files the browser tests load (web/tests/encoders.test.mjs)
//! into DIR, with what navaja's CPU reference computes for them:
//!
//! - `tiny-embedder.gguf`: a tiny random BERT (Q8_0), embeddings expected;
//! - `tiny-reranker.gguf` and `tiny-reranker/` (a safetensors folder): a tiny
//!   random cross-encoder, rerank scores expected;
//! - `minilm-f16.gguf`: all-MiniLM-L6-v2 converted to a GGUF `bert` file (F16
//!   matrices, the bert-bge vocabulary), when `models/` has both.
//! - `expected.json`: the CPU reference's embeddings and scores.
//!
//! `cargo run -p navaja-core --example web_encoder_fixtures -- DIR`

use std::path::{Path, PathBuf};

use navaja_core::encoder::{EncoderConfig, pair_input, text_input};
use navaja_core::gguf::GgufHeader;
use navaja_core::model::{ModelSpec, Pooling};
use navaja_core::quant::GgmlType;
use navaja_core::reference::CpuEncoder;
use navaja_core::testing::{TinyBert, bert_gguf_from_safetensors, tiny_bert_folder, tiny_bert_gguf};
use navaja_core::tokenizer::Tokenizer;
use navaja_core::{NavajaError, Result};
use serde_json::json;

pub const TEXTS: &[&str] = &["A man is eating food.", "the monkey is playing drums on the device", "x"];
pub const QUERY: &str = "what is the capital of france?";
pub const DOCUMENTS: &[&str] =
    &["paris is the capital of france.", "a man is eating bread.", "the new movie is awesome"];

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| NavajaError::invalid(format!("{}: {e}", dir.display())))?;
    }
    std::fs::write(path, bytes).map_err(|e| NavajaError::invalid(format!("{}: {e}", path.display())))
}

fn gguf_parts(file: &[u8]) -> Result<(Tokenizer, EncoderConfig)> {
    let header = GgufHeader::parse(file)?;
    let spec = ModelSpec::from_gguf(&header)?;
    Ok((Tokenizer::from_gguf(&header.metadata)?, EncoderConfig::from_gguf_spec(&spec)?))
}

fn scores(cpu: &CpuEncoder, tok: &Tokenizer, max_tokens: usize) -> Result<Vec<f32>> {
    // The second segment's token type: TinyBert has two types.
    DOCUMENTS
        .iter()
        .map(|d| {
            let input = pair_input(tok, QUERY, d, max_tokens, 1)?;
            Ok(cpu.classify(&input.ids, &input.type_ids)?[0])
        })
        .collect()
}

fn main() -> Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or_else(|| NavajaError::invalid("usage: DIR"))?);

    let embedder = tiny_bert_gguf(&TinyBert { seed: 21, weight_type: GgmlType::Q8_0, ..TinyBert::default() })?;
    write(&dir.join("tiny-embedder.gguf"), &embedder)?;
    let (tok, embedder_cfg) = gguf_parts(&embedder)?;
    let cpu = CpuEncoder::from_gguf(&embedder)?;
    let embeddings = TEXTS
        .iter()
        .map(|t| {
            let input = text_input(&tok, t, embedder_cfg.max_tokens)?;
            cpu.embed(&input.ids, &input.type_ids, embedder_cfg.pooling, embedder_cfg.normalize)
        })
        .collect::<Result<Vec<_>>>()?;

    let reranker = TinyBert { seed: 22, classifier_labels: Some(1), ..TinyBert::default() };
    let gguf = tiny_bert_gguf(&reranker)?;
    write(&dir.join("tiny-reranker.gguf"), &gguf)?;
    let (tok, cfg) = gguf_parts(&gguf)?;
    let gguf_scores = scores(&CpuEncoder::from_gguf(&gguf)?, &tok, cfg.max_tokens)?;

    let folder = tiny_bert_folder(&reranker)?;
    for (name, bytes) in &folder {
        write(&dir.join("tiny-reranker").join(name), bytes)?;
    }
    let file = |name: &str| folder.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_slice());
    let config = std::str::from_utf8(file("config.json").unwrap_or_default()).unwrap_or_default();
    let tokenizer = std::str::from_utf8(file("tokenizer.json").unwrap_or_default()).unwrap_or_default();
    let cpu = CpuEncoder::from_safetensors(config, file("model.safetensors").unwrap_or_default())?;
    let folder_scores = scores(&cpu, &Tokenizer::from_tokenizer_json(tokenizer)?, cfg.max_tokens)?;

    let minilm = Path::new("models/all-MiniLM-L6-v2");
    let bge = Path::new("models/llama-vocab/ggml-vocab-bert-bge.gguf");
    if minilm.join("model.safetensors").exists() && bge.exists() {
        let read = |p: &Path| std::fs::read(p).map_err(|e| NavajaError::invalid(format!("{}: {e}", p.display())));
        let config = String::from_utf8(read(&minilm.join("config.json"))?)
            .map_err(|e| NavajaError::format(format!("config.json: {e}")))?;
        let vocab = GgufHeader::parse(&read(bge)?)?.metadata;
        let weights = read(&minilm.join("model.safetensors"))?;
        let gguf = bert_gguf_from_safetensors(&config, &weights, &vocab, Pooling::Mean, GgmlType::F16)?;
        write(&dir.join("minilm-f16.gguf"), &gguf)?;
    }

    let expected = json!({
        "texts": TEXTS,
        "embedder": {
            "embeddings": embeddings,
            "pooling": embedder_cfg.pooling,
            "normalized": embedder_cfg.normalize,
            "max_tokens": embedder_cfg.max_tokens,
        },
        "query": QUERY,
        "documents": DOCUMENTS,
        "reranker": { "gguf_scores": gguf_scores, "folder_scores": folder_scores },
    });
    write(&dir.join("expected.json"), expected.to_string().as_bytes())?;
    eprintln!("encoder fixtures written to {}", dir.display());
    Ok(())
}
