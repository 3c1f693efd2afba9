//! `navaja embed --model PATH TEXT...`: sentence embeddings on the GPU, in
//! input order, as JSON (`--json`) or a short summary, and with
//! `--similarity` the matrix of cosine similarities.

use std::path::Path;

use navaja_core::model::Pooling;
use navaja_core::ops::pooling::cosine;
use navaja_core::{NavajaError, Result};
use navaja_gpu::encoder::EncoderOptions;
use serde::Serialize;
use serde_json::json;

use crate::runtime;

pub struct EmbedArgs<'a> {
    pub model: &'a Path,
    pub texts: &'a [String],
    pub json: bool,
    pub similarity: bool,
    /// Overrides the model's pooling.
    pub pooling: Option<Pooling>,
    /// Leaves the embeddings unnormalised whatever the model says.
    pub no_normalize: bool,
}

/// The `--json` output, embeddings in input order.
#[derive(Serialize)]
struct EmbedJson<'a> {
    model: String,
    dim: usize,
    pooling: Pooling,
    normalized: bool,
    max_tokens: usize,
    /// Tokens of each text after truncation, [CLS] and [SEP] included.
    tokens: &'a [usize],
    embeddings: &'a [Vec<f32>],
    #[serde(skip_serializing_if = "Option::is_none")]
    similarity: Option<&'a Vec<Vec<f64>>>,
    timings: serde_json::Value,
}

/// `mean`, `cls` or `last`.
pub fn parse_pooling(s: &str) -> std::result::Result<Pooling, String> {
    match s {
        "mean" => Ok(Pooling::Mean),
        "cls" => Ok(Pooling::Cls),
        "last" => Ok(Pooling::Last),
        other => Err(format!("unknown pooling {other:?} (mean, cls, last)")),
    }
}

pub fn run(a: &EmbedArgs<'_>) -> Result<()> {
    if a.texts.is_empty() {
        return Err(NavajaError::invalid("give at least one text to embed"));
    }
    let gpu = runtime::open_gpu()?;
    let (mut encoder, load_ms) = runtime::load_encoder(&gpu, a.model, &EncoderOptions::default())?;
    if let Some(p) = a.pooling {
        encoder.set_pooling(p)?;
    }
    if a.no_normalize {
        encoder.set_normalize(false);
    }
    let texts: Vec<&str> = a.texts.iter().map(String::as_str).collect();
    let tokens = texts.iter().map(|t| encoder.text_input(t).map(|i| i.len())).collect::<Result<Vec<_>>>()?;
    let clock = runtime::clock();
    let embeddings = pollster::block_on(encoder.embed(&texts))?;
    let embed_ms = clock();
    let sim: Vec<Vec<f64>> = if a.similarity {
        embeddings.iter().map(|x| embeddings.iter().map(|y| cosine(x, y)).collect()).collect()
    } else {
        Vec::new()
    };
    let cfg = encoder.config();
    if a.json {
        // Serialised directly (not through serde_json::Value) so that f32s print in their shortest form.
        let out = EmbedJson {
            model: runtime::model_name(a.model),
            dim: encoder.dim(),
            pooling: cfg.pooling,
            normalized: cfg.normalize,
            max_tokens: cfg.max_tokens,
            tokens: &tokens,
            embeddings: &embeddings,
            similarity: a.similarity.then_some(&sim),
            timings: json!({ "load_ms": load_ms, "embed_ms": embed_ms }),
        };
        let text = serde_json::to_string(&out).map_err(|e| NavajaError::invalid(format!("JSON output: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    let truncated = |n: usize| if n == cfg.max_tokens { " (truncated)" } else { "" };
    for (i, ((text, e), n)) in texts.iter().zip(&embeddings).zip(&tokens).enumerate() {
        let head: Vec<String> = e.iter().take(6).map(|v| format!("{v:+.4}")).collect();
        println!("[{i}] {n} tokens{}: [{}, ...] {text:?}", truncated(*n), head.join(", "));
    }
    if a.similarity {
        println!("cosine similarity:");
        for (i, row) in sim.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|c| format!("{c:+.4}")).collect();
            println!("[{i}] {}", cells.join("  "));
        }
    }
    eprintln!(
        "{} texts, dim {}, {:?} pooling{}; load {load_ms:.0} ms, embed {embed_ms:.0} ms",
        texts.len(),
        encoder.dim(),
        cfg.pooling,
        if cfg.normalize { ", normalized" } else { "" }
    );
    Ok(())
}
