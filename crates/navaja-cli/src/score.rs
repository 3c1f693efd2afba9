//! `navaja score`: teacher forcing. Runs a text through the model and
//! reports, for every position, the model's most likely next token and the
//! log-likelihood of the actual one: what top-1 agreement with another
//! implementation and perplexity are computed from.

use std::path::Path;

use navaja_core::{NavajaError, Result};
use navaja_gpu::session::SessionOptions;
use serde_json::json;

use crate::runtime;

pub struct ScoreArgs<'a> {
    pub model: &'a Path,
    pub text_file: Option<&'a Path>,
    pub ids: Option<&'a str>,
    /// Add the model's BOS as its metadata says (text input only).
    pub no_bos: bool,
    pub max_tokens: Option<usize>,
    pub kv: navaja_core::quant::kv::KvType,
}

pub fn run(a: &ScoreArgs<'_>) -> Result<()> {
    let gpu = runtime::open_gpu()?;
    let (loaded, _) = runtime::load_decoder(&gpu, a.model)?;
    let tok = &loaded.tokenizer;
    let mut ids = match (a.text_file, a.ids) {
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| NavajaError::invalid(format!("cannot read {}: {e}", path.display())))?;
            tok.encode(&text, tok.adds_bos() && !a.no_bos, false)?
        }
        (None, Some(list)) => list
            .split(|c: char| c == ',' || c.is_whitespace() || c == '[' || c == ']')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u32>().map_err(|e| NavajaError::invalid(format!("token id {s:?}: {e}"))))
            .collect::<Result<Vec<u32>>>()?,
        _ => return Err(NavajaError::invalid("give exactly one of --text-file and --ids")),
    };
    if let Some(max) = a.max_tokens {
        ids.truncate(max);
    }
    if ids.len() < 2 {
        return Err(NavajaError::invalid("scoring needs at least 2 tokens"));
    }
    let opts = SessionOptions {
        context_length: ids.len(),
        max_batch: 64,
        logit_rows: 64,
        kv: Some(a.kv),
        ..SessionOptions::default()
    };
    let mut session = runtime::session(&gpu, &loaded, &opts)?;
    let rows = pollster::block_on(session.logits_all(&ids))?;
    let mut argmax = Vec::with_capacity(rows.len());
    let mut nll_sum = 0.0f64;
    for (i, row) in rows.iter().enumerate() {
        argmax.push(argmax_of(row));
        if let Some(&next) = ids.get(i + 1) {
            nll_sum -= log_softmax_at(row, next as usize);
        }
    }
    let predicted = ids.len() - 1;
    let mean_nll = nll_sum / predicted as f64;
    println!(
        "{}",
        json!({
            "tokens": ids.len(),
            "ids": ids,
            "argmax": argmax,
            "mean_nll": mean_nll,
            "perplexity": mean_nll.exp(),
        })
    );
    Ok(())
}

/// First index of the largest value (NaN never wins).
fn argmax_of(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] || row[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

fn log_softmax_at(row: &[f32], i: usize) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
    row[i] as f64 - max - sum.ln()
}
