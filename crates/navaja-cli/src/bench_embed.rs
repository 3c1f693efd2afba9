//! `navaja bench-embed`: embedding throughput of an encoder on this adapter
//! (texts per second for batches of short sentences), as JSON with the
//! median, min and max of several runs.

use std::path::Path;
use std::time::Instant;

use navaja_core::{NavajaError, Result};
use navaja_gpu::encoder::EncoderOptions;
use navaja_gpu::ops::matmul::Matmul;
use serde_json::json;

use crate::bench::stats;
use crate::runtime;

/// Ordinary English prose for the texts (public domain).
const PROSE: &str = include_str!("../../../tests/fixtures/text/alice-chapter1.txt");

pub struct BenchEmbedArgs<'a> {
    pub model: &'a Path,
    pub batch: usize,
    pub runs: usize,
    /// Words per text (15 words of this prose are about 20 MiniLM tokens with [CLS] and [SEP]).
    pub words: usize,
}

/// `n` consecutive `words`-word pieces of the prose (wrapping around).
fn texts(n: usize, words: usize) -> Vec<String> {
    let all: Vec<&str> = PROSE.split_whitespace().collect();
    (0..n).map(|i| (0..words).map(|w| all[(i * words + w) % all.len()]).collect::<Vec<_>>().join(" ")).collect()
}

pub fn run(a: &BenchEmbedArgs<'_>) -> Result<()> {
    if a.batch == 0 || a.runs == 0 || a.words == 0 {
        return Err(NavajaError::invalid("batch, runs and words must be > 0"));
    }
    let gpu = runtime::open_gpu()?;
    let (mut encoder, load_ms) = runtime::load_encoder(&gpu, a.model, &EncoderOptions::default())?;
    let owned = texts(a.batch, a.words);
    let batch: Vec<&str> = owned.iter().map(String::as_str).collect();
    let tokens: usize = batch.iter().map(|t| encoder.text_input(t).map(|i| i.len())).sum::<Result<usize>>()?;
    let embed = |encoder: &mut navaja_gpu::encoder::Encoder, texts: &[&str]| -> Result<f64> {
        let start = Instant::now();
        if encoder.is_reranker() {
            pollster::block_on(encoder.rerank(texts[0], texts))?;
        } else {
            pollster::block_on(encoder.embed(texts))?;
        }
        Ok(start.elapsed().as_secs_f64())
    };
    // One untimed batch compiles every pipeline.
    embed(&mut encoder, &batch)?;
    let mut texts_per_s = Vec::new();
    let mut tokens_per_s = Vec::new();
    let mut batch_ms = Vec::new();
    let mut single_ms = Vec::new();
    for _ in 0..a.runs {
        let secs = embed(&mut encoder, &batch)?;
        texts_per_s.push(a.batch as f64 / secs);
        tokens_per_s.push(tokens as f64 / secs);
        batch_ms.push(secs * 1000.0);
        single_ms.push(embed(&mut encoder, &batch[..1])? * 1000.0);
    }
    // The same throughput as a rate of matrix arithmetic, next to what the
    // matmul kernel alone reaches on the model's largest matrix for the same
    // rows: the encoder's overhead beyond its matrix products.
    let macs = encoder.model().matmul_macs_per_token() as f64;
    let mut sorted = tokens_per_s.clone();
    sorted.sort_by(f64::total_cmp);
    let encoder_gflops = 2.0 * macs * sorted[sorted.len() / 2] / 1e9;
    let matmul_gflops = matmul_rate(&encoder, tokens, a.runs)?;
    println!(
        "{}",
        json!({
            "model": runtime::model_name(a.model),
            "adapter": gpu.adapter.name,
            "backend": gpu.adapter.backend,
            "load_ms": load_ms,
            "batch": a.batch,
            "tokens_per_text": tokens as f64 / a.batch as f64,
            "texts_per_s": stats(&texts_per_s),
            "tokens_per_s": stats(&tokens_per_s),
            "batch_ms": stats(&batch_ms),
            "single_text_ms": stats(&single_ms),
            "matmul_flops_per_token": 2.0 * macs,
            "encoder_gflop_per_s": encoder_gflops,
            "matmul_kernel_gflop_per_s": matmul_gflops,
            "fraction_of_matmul_rate": encoder_gflops / matmul_gflops,
        })
    );
    Ok(())
}

/// Median GFLOP/s of the matmul kernel alone: the first layer's up
/// projection over `tokens` rows, `runs` times.
fn matmul_rate(encoder: &navaja_gpu::encoder::Encoder, tokens: usize, runs: usize) -> Result<f64> {
    let gpu = encoder.gpu();
    let model = encoder.model();
    let w = &model.layers.first().ok_or_else(|| NavajaError::invalid("the model has no layers"))?.up;
    let n = u32::try_from(tokens).map_err(|_| NavajaError::invalid("too many tokens"))?;
    let x = gpu.storage("bench x", (tokens * w.cols * 4) as u64)?;
    let y = gpu.storage("bench y", (tokens * w.rows * 4) as u64)?;
    let op = Matmul { weight: w, x: &x, x_offset: 0, y: &y, y_offset: 0, n, bias: None, accumulate: false };
    let mut rates = Vec::with_capacity(runs + 1);
    for _ in 0..=runs {
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        op.encode(gpu, &mut enc)?;
        let start = Instant::now();
        gpu.queue.submit([enc.finish()]);
        gpu.wait_idle()?;
        rates.push(2.0 * (w.rows * w.cols * tokens) as f64 / start.elapsed().as_secs_f64() / 1e9);
    }
    rates.remove(0); // the first run compiles the pipeline
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}
