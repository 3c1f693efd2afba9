//! `navaja kv-eval`: what a quantized KV cache costs in quality. Teacher
//! forcing over a text with an f32 cache and with each cache type asked
//! for, side by side: top-1 agreement with the f32 cache, the mean KL
//! divergence of the next-token distributions, perplexity of each, and bytes
//! of cache per token. One JSON object per line, one per cache type.

use std::path::Path;

use navaja_core::quant::kv::KvType;
use navaja_core::{NavajaError, Result};
use navaja_gpu::session::SessionOptions;
use serde_json::json;

use crate::runtime;

pub struct KvEvalArgs<'a> {
    pub model: &'a Path,
    pub text_file: &'a Path,
    pub kv: &'a [KvType],
    pub max_tokens: usize,
}

/// Tokens per teacher-forcing step: a prefill chunk whose logits are all read back.
const CHUNK: usize = 64;

/// Sums over the positions of one cache type, against the f32 cache.
#[derive(Default)]
struct Totals {
    agree: usize,
    kl: f64,
    nll: f64,
}

/// log-softmax of a row, in f64.
fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max;
    row.iter().map(|&v| v as f64 - lse).collect()
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

pub fn run(a: &KvEvalArgs<'_>) -> Result<()> {
    if a.kv.is_empty() {
        return Err(NavajaError::invalid("give at least one cache type with --kv"));
    }
    let gpu = runtime::open_gpu()?;
    let (loaded, _) = runtime::load_decoder(&gpu, a.model)?;
    let tok = &loaded.tokenizer;
    let text = std::fs::read_to_string(a.text_file)
        .map_err(|e| NavajaError::invalid(format!("cannot read {}: {e}", a.text_file.display())))?;
    let mut ids = tok.encode(&text, tok.adds_bos(), false)?;
    ids.truncate(a.max_tokens);
    if ids.len() < 2 {
        return Err(NavajaError::invalid("the text has fewer than 2 tokens"));
    }
    let session = |kv| {
        let opts = SessionOptions {
            context_length: ids.len(),
            max_batch: CHUNK,
            logit_rows: CHUNK,
            kv: Some(kv),
            preallocate: true,
            ..SessionOptions::default()
        };
        runtime::session(&gpu, &loaded, &opts)
    };
    let mut baseline = session(KvType::F32)?;
    let mut others = a.kv.iter().map(|&kv| session(kv)).collect::<Result<Vec<_>>>()?;
    let mut nll_f32 = 0.0;
    let mut totals: Vec<Totals> = a.kv.iter().map(|_| Totals::default()).collect();

    for (c, chunk) in ids.chunks(CHUNK).enumerate() {
        let base_rows = pollster::block_on(baseline.logits_all(chunk))?;
        let base_logp: Vec<Vec<f64>> = base_rows.iter().map(|r| log_softmax(r)).collect();
        let next = |i: usize| ids.get(c * CHUNK + i + 1).map(|&t| t as usize);
        for (i, lp) in base_logp.iter().enumerate() {
            if let Some(t) = next(i) {
                nll_f32 -= lp[t];
            }
        }
        for (session, total) in others.iter_mut().zip(&mut totals) {
            let rows = pollster::block_on(session.logits_all(chunk))?;
            for (i, (row, (base_row, base_lp))) in rows.iter().zip(base_rows.iter().zip(&base_logp)).enumerate() {
                // Positions whose next token is known: the last one of the text predicts nothing.
                let Some(t) = next(i) else { continue };
                let lp = log_softmax(row);
                total.agree += usize::from(argmax(row) == argmax(base_row));
                total.kl += base_lp.iter().zip(&lp).map(|(&p, &q)| p.exp() * (p - q)).sum::<f64>();
                total.nll -= lp[t];
            }
        }
    }

    let predicted = (ids.len() - 1) as f64;
    let f32_bytes = baseline.kv_bytes_per_token();
    for ((kv, session), t) in a.kv.iter().zip(&others).zip(&totals) {
        println!(
            "{}",
            json!({
                "kv": kv.name(),
                "tokens": ids.len(),
                "top1_agreement": t.agree as f64 / predicted,
                "mean_kl": t.kl / predicted,
                "perplexity": (t.nll / predicted).exp(),
                "perplexity_f32": (nll_f32 / predicted).exp(),
                "kv_bytes_per_token": session.kv_bytes_per_token(),
                "kv_bytes_per_token_f32": f32_bytes,
            })
        );
    }
    Ok(())
}
