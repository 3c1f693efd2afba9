//! `navaja bench --backend cpu`: the same measurement as `navaja bench` for
//! navaja-core's CPU backend (quantized weights, integer dot products, one
//! thread; the KV cache q8 unless --kv says f32), next to a plain
//! single-thread read of a large buffer: the
//! memory speed one core gets, which decode is bounded by.

use std::sync::Arc;
use std::time::Instant;

use navaja_core::cpu::{CpuDecoder, CpuDecoderSession};
use navaja_core::generate::{Pick, TokenModel};
use navaja_core::gguf::GgufHeader;
use navaja_core::quant::kv::KvType;
use navaja_core::tokenizer::Tokenizer;
use navaja_core::{NavajaError, Result};
use serde_json::json;

use crate::bench::{BenchArgs, PROSE, stats};

/// GB/s of one thread summing a 256 MiB buffer of u64 (median of 5).
fn read_bandwidth() -> f64 {
    let words = vec![1u64; (256 << 20) / 8];
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let sum = words.chunks_exact(8).fold([0u64; 8], |mut acc, c| {
                for j in 0..8 {
                    acc[j] = acc[j].wrapping_add(c[j]);
                }
                acc
            });
            std::hint::black_box(sum);
            (words.len() * 8) as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

pub fn run(a: &BenchArgs<'_>) -> Result<()> {
    if a.runs == 0 || a.prompt_tokens < 9 || a.decode_tokens == 0 {
        return Err(NavajaError::invalid("runs and decode tokens must be > 0, prompt tokens at least 9"));
    }
    let start = Instant::now();
    let file =
        std::fs::read(a.model).map_err(|e| NavajaError::invalid(format!("cannot read {}: {e}", a.model.display())))?;
    let tokenizer = Tokenizer::from_gguf(&GgufHeader::parse(&file)?.metadata)?;
    let model = Arc::new(CpuDecoder::from_gguf(&file)?);
    drop(file);
    let load_ms = start.elapsed().as_secs_f64() * 1000.0;
    let ids = tokenizer.encode(PROSE, false, false)?;
    if ids.len() < a.prompt_tokens {
        return Err(NavajaError::invalid(format!("the benchmark text has only {} tokens", ids.len())));
    }
    let prompt = &ids[..a.prompt_tokens];
    let kv = CpuDecoderSession::supported_kv(&model, a.kv.unwrap_or(KvType::Q8));
    let mut session = CpuDecoderSession::new(model.clone(), a.prompt_tokens + a.decode_tokens + 1, kv)?;
    let greedy = Pick::greedy();
    let (mut prefill_tps, mut decode_tps, mut decode_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..a.runs {
        session.truncate(0);
        let start = Instant::now();
        let mut top = pollster::block_on(session.feed(prompt, &greedy))?;
        prefill_tps.push(a.prompt_tokens as f64 / start.elapsed().as_secs_f64());
        let start = Instant::now();
        for _ in 0..a.decode_tokens {
            let next = top.candidates[0].0;
            top = pollster::block_on(session.feed(&[next], &greedy))?;
        }
        let secs = start.elapsed().as_secs_f64();
        decode_tps.push(a.decode_tokens as f64 / secs);
        decode_ms.push(secs * 1000.0 / a.decode_tokens as f64);
    }
    let bandwidth = read_bandwidth();
    let weight_bytes = model.weight_bytes() as f64;
    let mean_context = a.prompt_tokens as f64 + a.decode_tokens as f64 / 2.0;
    let kv_bytes = session.kv_bytes_per_token() as f64 * mean_context;
    let bytes_per_token = weight_bytes + kv_bytes;
    let mut sorted = decode_tps.clone();
    sorted.sort_by(f64::total_cmp);
    let effective = bytes_per_token * sorted[sorted.len() / 2] / 1e9;
    println!(
        "{}",
        json!({
            "model": a.model.file_name().map(|n| n.to_string_lossy().into_owned()),
            "adapter": "cpu (navaja-core, 1 thread)",
            "backend": "cpu",
            "kv": session.kv().name(),
            "load_ms": load_ms,
            "prompt_tokens": a.prompt_tokens,
            "decode_tokens": a.decode_tokens,
            "prefill_tokens_per_s": stats(&prefill_tps),
            "decode_tokens_per_s": stats(&decode_tps),
            "decode_ms_per_token": stats(&decode_ms),
            "decode_bytes_per_token": { "weights": weight_bytes, "kv_cache": kv_bytes, "total": bytes_per_token },
            "decode_effective_gb_per_s": effective,
            "read_bandwidth_gb_per_s": bandwidth,
            "fraction_of_read_bandwidth": effective / bandwidth,
        })
    );
    Ok(())
}
