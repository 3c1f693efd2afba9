//! `navaja bench-kv`: decode speed at a long context with each KV cache
//! type, in one run on one adapter. At 2,000 tokens SmolLM2's f32 cache is
//! as large as its weights, and every decode step reads all of it, so a
//! smaller cache should decode faster.
//!
//! Every type gets its own session holding the same context: one f32
//! session is prefilled with the text, and every other type's session is
//! filled from its cache by that type's own write and quantize kernels
//! (`Session::copy_context_from`). A 2,000-token prefill takes minutes on a
//! CPU adapter; one for all types instead of one each keeps the benchmark
//! suite within its time, and the decode steps read the same bytes as after
//! a prefill of their own. The timed runs then alternate between the types
//! (A B C A B C ...) so that drift of the machine hits each alike. Medians,
//! min and max, as JSON.

use std::path::Path;
use std::time::Instant;

use navaja_core::quant::kv::KvType;
use navaja_core::{NavajaError, Result};
use navaja_gpu::ops::bandwidth::measure_read_bandwidth;
use navaja_gpu::session::{Pick, SessionOptions};
use serde_json::json;

use crate::bench::{PROSE, stats};
use crate::runtime;

pub struct BenchKvArgs<'a> {
    pub model: &'a Path,
    pub kv: &'a [KvType],
    pub context: usize,
    pub decode_tokens: usize,
    pub runs: usize,
}

pub fn run(a: &BenchKvArgs<'_>) -> Result<()> {
    if a.kv.is_empty() || a.runs == 0 || a.decode_tokens == 0 || a.context == 0 {
        return Err(NavajaError::invalid("give cache types, and runs, decode tokens and context > 0"));
    }
    let gpu = runtime::open_gpu()?;
    let (loaded, _) = runtime::load_decoder(&gpu, a.model)?;
    // The text, repeated as often as the context needs.
    let mut ids = Vec::new();
    while ids.len() < a.context {
        ids.extend(loaded.tokenizer.encode(PROSE, false, false)?);
    }
    ids.truncate(a.context);

    let session_of = |kv: KvType| {
        let opts = SessionOptions {
            context_length: a.context + a.decode_tokens + 1,
            kv: Some(kv),
            preallocate: true,
            ..SessionOptions::default()
        };
        runtime::session(&gpu, &loaded, &opts)
    };
    let mut source = session_of(KvType::F32)?;
    let start = Instant::now();
    let first = pollster::block_on(source.feed(&ids, &Pick::greedy()))?.candidates[0].0;
    let prefill_ms = start.elapsed().as_secs_f64() * 1000.0;
    // The f32 session is the source, so it is filled before the others are copied.
    let mut sessions = Vec::new();
    let mut fill_ms = Vec::new();
    for &kv in a.kv {
        let start = Instant::now();
        let mut session = session_of(kv)?;
        pollster::block_on(session.copy_context_from(&source))?;
        // One untimed step compiles the decode pipelines of this type (and waits for the copy).
        pollster::block_on(session.feed(&[first], &Pick::greedy()))?;
        fill_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        sessions.push((session, first));
    }
    drop(source);

    let mut decode_tps = vec![Vec::new(); a.kv.len()];
    for _ in 0..a.runs {
        for ((session, first), tps) in sessions.iter_mut().zip(&mut decode_tps) {
            session.truncate(a.context);
            let mut next = *first;
            let start = Instant::now();
            for _ in 0..a.decode_tokens {
                next = pollster::block_on(session.feed(&[next], &Pick::greedy()))?.candidates[0].0;
            }
            tps.push(a.decode_tokens as f64 / start.elapsed().as_secs_f64());
        }
    }

    let bandwidth = measure_read_bandwidth(&gpu, 256 << 20, 5)?;
    let weights = loaded.model.decode_read_bytes();
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let f32_tps = a.kv.iter().position(|&k| k == KvType::F32).map(|i| median(&decode_tps[i]));
    let rows: Vec<serde_json::Value> =
        a.kv.iter()
            .zip(&sessions)
            .zip(&decode_tps)
            .zip(&fill_ms)
            .map(|(((kv, (session, _)), tps), fill_ms)| {
                // A step at the middle of the timed range reads this much cache.
                let kv_read = session.kv().read_bytes((a.context + a.decode_tokens / 2) as u32);
                let per_token = weights + kv_read;
                let gbps = per_token as f64 * median(tps) / 1e9;
                json!({
                    "kv": kv.name(),
                    "decode_tokens_per_s": stats(tps),
                    "vs_f32": f32_tps.map(|f| median(tps) / f),
                    "fill_ms": fill_ms,
                    "kv_bytes_per_token": session.kv_bytes_per_token(),
                    "decode_bytes_per_token": { "weights": weights, "kv_cache": kv_read, "total": per_token },
                    "decode_effective_gb_per_s": gbps,
                    "fraction_of_read_bandwidth": gbps / bandwidth.gb_per_s,
                })
            })
            .collect();
    println!(
        "{}",
        json!({
            "model": a.model.file_name().map(|n| n.to_string_lossy().into_owned()),
            "adapter": gpu.adapter.name,
            "context": a.context,
            "decode_tokens": a.decode_tokens,
            "runs": a.runs,
            "prefill_ms": prefill_ms,
            "filled_from": "f32",
            "read_bandwidth_gb_per_s": bandwidth.gb_per_s,
            "kv": rows,
        })
    );
    Ok(())
}
