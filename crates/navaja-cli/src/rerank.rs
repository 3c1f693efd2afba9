//! `navaja rerank --model PATH --query Q DOC...`: a cross-encoder's
//! relevance score of each document for the query, best first.

use std::path::Path;

use navaja_core::{NavajaError, Result};
use navaja_gpu::encoder::EncoderOptions;
use serde_json::json;

use crate::runtime;

pub struct RerankArgs<'a> {
    pub model: &'a Path,
    pub query: &'a str,
    pub docs: &'a [String],
    pub json: bool,
}

pub fn run(a: &RerankArgs<'_>) -> Result<()> {
    if a.docs.is_empty() {
        return Err(NavajaError::invalid("give at least one document to rank"));
    }
    let gpu = runtime::open_gpu()?;
    let (mut encoder, load_ms) = runtime::load_encoder(&gpu, a.model, &EncoderOptions::default())?;
    let docs: Vec<&str> = a.docs.iter().map(String::as_str).collect();
    let clock = runtime::clock();
    let scores = pollster::block_on(encoder.rerank(a.query, &docs))?;
    let rerank_ms = clock();
    let mut order: Vec<usize> = (0..docs.len()).collect();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    if a.json {
        let results: Vec<_> =
            order.iter().map(|&i| json!({ "index": i, "document": docs[i], "score": scores[i] })).collect();
        println!(
            "{}",
            json!({
                "model": runtime::model_name(a.model),
                "query": a.query,
                "scores": scores,
                "results": results,
                "timings": { "load_ms": load_ms, "rerank_ms": rerank_ms },
            })
        );
        return Ok(());
    }
    for i in order {
        println!("{:+.4}  [{i}] {}", scores[i], docs[i]);
    }
    eprintln!("{} documents; load {load_ms:.0} ms, rerank {rerank_ms:.0} ms", docs.len());
    Ok(())
}
