//! `navaja bench`: decode and prefill speed of a decoder on this adapter,
//! next to the adapter's own read bandwidth, as JSON.
//!
//! Decode is memory-bound: each step reads every weight once (plus the KV
//! cache), so bytes read per token / seconds per token is the bandwidth the
//! engine reaches, comparable to what a plain streaming-read kernel gets.

use std::path::Path;
use std::time::Instant;

use navaja_core::{NavajaError, Result};
use navaja_gpu::ops::bandwidth::measure_read_bandwidth;
use navaja_gpu::session::{Pick, SessionOptions};
use serde_json::json;

use crate::runtime;

/// Ordinary English prose for the prompt (public domain).
pub const PROSE: &str = include_str!("../../../tests/fixtures/text/alice-chapter1.txt");

pub struct BenchArgs<'a> {
    pub model: &'a Path,
    pub kv: Option<navaja_core::quant::kv::KvType>,
    pub runs: usize,
    pub prompt_tokens: usize,
    pub decode_tokens: usize,
}

/// Median, min and max of `values`.
pub fn stats(values: &[f64]) -> serde_json::Value {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    json!({ "median": v[v.len() / 2], "min": v[0], "max": v[v.len() - 1], "runs": v.len() })
}

/// With NAVAJA_PROFILE_OPS=1: where the phase's time went, op by op (stderr).
fn print_profile(phase: &str) {
    if navaja_gpu::profile::enabled() {
        eprintln!("profile of {phase} (every op waited for; see navaja_gpu::profile):");
        for line in navaja_gpu::profile::report() {
            eprintln!("  {line}");
        }
    }
}

pub fn run(a: &BenchArgs<'_>) -> Result<()> {
    // The untimed warm-up feeds 8 prompt tokens, then a ninth.
    if a.runs == 0 || a.prompt_tokens < 9 || a.decode_tokens == 0 {
        return Err(NavajaError::invalid("runs and decode tokens must be > 0, prompt tokens at least 9"));
    }
    let gpu = runtime::open_gpu()?;
    let (loaded, load_ms) = runtime::load_decoder(&gpu, a.model)?;
    let ids = loaded.tokenizer.encode(PROSE, false, false)?;
    if ids.len() < a.prompt_tokens {
        return Err(NavajaError::invalid(format!("the benchmark text has only {} tokens", ids.len())));
    }
    let prompt = &ids[..a.prompt_tokens];
    let opts = SessionOptions {
        context_length: a.prompt_tokens + a.decode_tokens + 1,
        kv: a.kv,
        preallocate: true,
        ..SessionOptions::default()
    };
    let mut session = runtime::session(&gpu, &loaded, &opts)?;

    // One untimed pass compiles every pipeline.
    pollster::block_on(session.feed(&prompt[..8], &Pick::greedy()))?;
    pollster::block_on(session.feed(&[prompt[8]], &Pick::greedy()))?;

    let mut prefill_tps = Vec::new();
    let mut decode_tps = Vec::new();
    let mut decode_ms_per_token = Vec::new();
    for _ in 0..a.runs {
        session.truncate(0);
        let start = Instant::now();
        let mut top = pollster::block_on(session.feed(prompt, &Pick::greedy()))?;
        prefill_tps.push(a.prompt_tokens as f64 / start.elapsed().as_secs_f64());
        print_profile("prefill");
        let start = Instant::now();
        for _ in 0..a.decode_tokens {
            let next = top.candidates[0].0;
            top = pollster::block_on(session.feed(&[next], &Pick::greedy()))?;
        }
        let secs = start.elapsed().as_secs_f64();
        print_profile("decode");
        decode_tps.push(a.decode_tokens as f64 / secs);
        decode_ms_per_token.push(secs * 1000.0 / a.decode_tokens as f64);
    }

    let bandwidth = measure_read_bandwidth(&gpu, 256 << 20, 5)?;
    let weight_bytes = loaded.model.decode_read_bytes();
    // Mean context over the decode steps: each reads the whole cache so far.
    let mean_context = a.prompt_tokens as f64 + a.decode_tokens as f64 / 2.0;
    let kv_bytes = session.kv().read_bytes(mean_context as u32) as f64;
    let bytes_per_token = weight_bytes as f64 + kv_bytes;
    let mut sorted = decode_tps.clone();
    sorted.sort_by(f64::total_cmp);
    let median_tps = sorted[sorted.len() / 2];
    let effective_gbps = bytes_per_token * median_tps / 1e9;
    println!(
        "{}",
        json!({
            "model": a.model.file_name().map(|n| n.to_string_lossy().into_owned()),
            "adapter": gpu.adapter.name,
            "backend": gpu.adapter.backend,
            "kv": session.kv().kind.name(),
            "load_ms": load_ms,
            "prompt_tokens": a.prompt_tokens,
            "decode_tokens": a.decode_tokens,
            "prefill_tokens_per_s": stats(&prefill_tps),
            "decode_tokens_per_s": stats(&decode_tps),
            "decode_ms_per_token": stats(&decode_ms_per_token),
            "decode_bytes_per_token": { "weights": weight_bytes, "kv_cache": kv_bytes, "total": bytes_per_token },
            "decode_effective_gb_per_s": effective_gbps,
            "read_bandwidth_gb_per_s": bandwidth.gb_per_s,
            "fraction_of_read_bandwidth": effective_gbps / bandwidth.gb_per_s,
        })
    );
    Ok(())
}
