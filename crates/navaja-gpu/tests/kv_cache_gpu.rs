//! The quantized KV cache on a real wgpu adapter (lavapipe on CI):
//! - the write kernel against the CPU quantizer of `navaja_core::quant::kv`;
//! - attention reading f16/q8/q4 words directly against the f64 CPU
//!   reference over the same words dequantized, for decode and prefill,
//!   key counts that are not multiples of the tile, and split keys;
//! - ring caches (sliding window with attention sinks) against the CPU
//!   reference over the logical positions;
//! - whole sessions of a tiny model with each cache type, growth and a
//!   window, against the CPU reference forward pass with the same cache.
//!
//! No adapter is a failure, never a skip.

use navaja_core::model::Architecture;
use navaja_core::ops::attention::{AttentionShape, attention_ref_shape};
use navaja_core::quant::GgmlType;
use navaja_core::quant::kv::{KvType, dequantize_rows, quantize_rows};
use navaja_core::reference::{CpuCacheOptions, CpuModel};
use navaja_core::testing::{TinyDecoder, tiny_decoder_gguf};
use navaja_gpu::model::load_decoder_gguf;
use navaja_gpu::ops::attention::{CacheLayout, attention_stored};
use navaja_gpu::ops::kv_write::kv_write_roundtrip;
use navaja_gpu::session::{KvWindow, Session, SessionOptions};
use rand::{RngExt, SeedableRng, rngs::StdRng};

mod common;
use common::gpu;

const QUANTIZED: [KvType; 3] = [KvType::F16, KvType::Q8, KvType::Q4];

fn random_vec(rng: &mut StdRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-scale..scale)).collect()
}

/// Rows like real keys: a few channels far from zero, the rest small.
fn key_like(rng: &mut StdRng, rows: usize, width: usize) -> Vec<f32> {
    (0..rows * width)
        .map(|i| {
            let c = i % width;
            let offset = if c % 17 == 3 { 4.0 } else { 0.0 };
            offset + rng.random_range(-1.0f32..1.0)
        })
        .collect()
}

/// The largest quantization step of each block of `values` for `kind`.
fn steps(kind: KvType, values: &[f32]) -> Vec<f32> {
    values
        .chunks(32)
        .map(|b| {
            let (lo, hi) = b.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            match kind {
                KvType::F32 => 0.0,
                KvType::F16 => lo.abs().max(hi.abs()) / 1024.0,
                KvType::Q8 => lo.abs().max(hi.abs()) / 127.0,
                KvType::Q4 => (hi - lo) / 15.0,
            }
        })
        .collect()
}

#[test]
fn write_kernel_matches_the_cpu_quantizer() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(1);
    for kind in KvType::ALL {
        for (width, head_dim, rows, start_pos) in [(192, 64, 5, 0), (96, 32, 1, 37), (256, 256, 3, 9), (160, 32, 7, 2)]
        {
            let k = key_like(&mut rng, rows, width);
            let v = random_vec(&mut rng, rows * width, 0.7);
            let slots = (start_pos + rows) as u32;
            let layout = CacheLayout::linear(kind);
            let (kw, vw, kd, vd) =
                pollster::block_on(kv_write_roundtrip(gpu, &k, &v, width, head_dim, layout, start_pos as u32, slots))
                    .unwrap();
            let row_words = kind.row_words(width);
            let (mut same, mut total) = (0usize, 0usize);
            for (src, words, back) in [(&k, &kw, &kd), (&v, &vw, &vd)] {
                let want = quantize_rows(kind, src, width);
                let got = &words[start_pos * row_words..];
                same += want.iter().zip(got).filter(|(a, b)| a == b).count();
                total += want.len();
                // Slots before start_pos were not touched.
                assert!(words[..start_pos * row_words].iter().all(|&w| w == 0), "{kind:?}: wrote before start_pos");
                let back = &back[start_pos * width..];
                for (r, (row, step_row)) in src.chunks(width).zip(src.chunks(width).map(|r| steps(kind, r))).enumerate()
                {
                    for (i, x) in row.iter().enumerate() {
                        let got = back[r * width + i];
                        let step = step_row[i / 32];
                        assert!(
                            (got - x).abs() <= 0.52 * step + 1e-6 || kind == KvType::F32 && got == *x,
                            "{kind:?} width {width}: row {r} value {i}: {x} stored as {got}"
                        );
                    }
                }
            }
            // Division and rounding may differ by an ulp between GPU and CPU: codes at exact
            // ties can differ, nothing else.
            assert!(same as f64 >= 0.99 * total as f64, "{kind:?} width {width}: {same}/{total} words equal");
        }
    }
}

/// A ring cache places each position at its slot and leaves the others alone.
#[test]
fn write_kernel_fills_ring_slots() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(2);
    let (width, head_dim) = (64, 32);
    let layout = CacheLayout { kind: KvType::Q8, sink: 3, ring_len: 8 };
    // Positions 20..25 in a ring of 8 after a sink of 3: slots 3 + (p - 3) % 8.
    let k = random_vec(&mut rng, 5 * width, 1.0);
    let v = random_vec(&mut rng, 5 * width, 1.0);
    let (kw, _, _, _) = pollster::block_on(kv_write_roundtrip(gpu, &k, &v, width, head_dim, layout, 20, 11)).unwrap();
    let row_words = KvType::Q8.row_words(width);
    let want = quantize_rows(KvType::Q8, &k, width);
    let mut written = [false; 11];
    for (t, pos) in (20u32..25).enumerate() {
        let slot = layout.slot(pos) as usize;
        written[slot] = true;
        let got = &kw[slot * row_words..][..row_words];
        let same = got.iter().zip(&want[t * row_words..][..row_words]).filter(|(a, b)| a == b).count();
        assert!(same + 1 >= row_words, "position {pos} in slot {slot}");
    }
    for (slot, w) in written.iter().enumerate() {
        if !w {
            assert!(kw[slot * row_words..][..row_words].iter().all(|&x| x == 0), "slot {slot} was overwritten");
        }
    }
}

/// GPU attention over stored words vs the CPU reference over the same words dequantized.
fn check_attention(rng: &mut StdRng, kind: KvType, s: AttentionShape, splits: Option<u32>) {
    let gpu = gpu();
    let width = s.kv_width();
    let q = random_vec(rng, s.q_len(), 1.0);
    let k = key_like(rng, s.kv_len(), width);
    let v = random_vec(rng, s.kv_len() * width, 1.0);
    let (kw, vw) = (quantize_rows(kind, &k, width), quantize_rows(kind, &v, width));
    let scale = 1.0 / (s.head_dim as f32).sqrt();
    let got =
        pollster::block_on(attention_stored(gpu, &q, &kw, &vw, &s, scale, CacheLayout::linear(kind), splits)).unwrap();
    let (kd, vd) = (dequantize_rows(kind, &kw, width), dequantize_rows(kind, &vw, width));
    let want = attention_ref_shape(&q, &kd, &vd, &s, scale).unwrap();
    let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
    assert!(worst <= 5e-5, "{kind:?} {s:?} splits {splits:?}: max abs error {worst}");
    // And the quantization itself is close to the f32 result (a sanity bound, not the oracle).
    let exact = attention_ref_shape(&q, &k, &v, &s, scale).unwrap();
    let drift = got.iter().zip(&exact).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
    let bound = match kind {
        KvType::F32 | KvType::F16 => 0.01,
        KvType::Q8 => 0.05,
        KvType::Q4 => 0.5,
    };
    assert!(drift <= bound, "{kind:?} {s:?}: {drift} away from the f32 attention");
}

fn shape(
    n_tokens: usize,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    start_pos: usize,
    window: usize,
) -> AttentionShape {
    AttentionShape::new(n_tokens, n_heads, n_kv_heads, head_dim, start_pos, 1.0, true, window).unwrap()
}

#[test]
fn quantized_decode_matches_the_cpu_reference() {
    let mut rng = StdRng::seed_from_u64(3);
    for kind in QUANTIZED {
        for (heads, kv_heads, head_dim) in [(9, 3, 64), (4, 1, 256), (8, 2, 128)] {
            for start_pos in [0, 45, 300] {
                check_attention(&mut rng, kind, shape(1, heads, kv_heads, head_dim, start_pos, 0), None);
            }
        }
        // Split keys (flash-decoding) with a key count that is not a multiple of the tile.
        check_attention(&mut rng, kind, shape(1, 9, 3, 64, 1000, 0), Some(7));
        check_attention(&mut rng, kind, shape(1, 9, 3, 64, 200, 64), None);
    }
}

#[test]
fn quantized_prefill_matches_the_cpu_reference() {
    let mut rng = StdRng::seed_from_u64(4);
    for kind in QUANTIZED {
        check_attention(&mut rng, kind, shape(13, 9, 3, 64, 0, 0), None);
        check_attention(&mut rng, kind, shape(37, 4, 2, 32, 21, 0), None);
        check_attention(&mut rng, kind, shape(5, 4, 1, 256, 3, 0), None);
    }
}

/// A ring of `sink + window + n - 1` slots holding only what the rows of a
/// batch of `n` at `start_pos` can see, against the CPU reference over every position.
#[test]
fn ring_cache_with_sink_matches_the_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(5);
    for kind in [KvType::F32, KvType::Q8, KvType::Q4] {
        for (n, start_pos, sink, window) in
            [(1, 500, 4, 64), (7, 300, 2, 40), (16, 16, 4, 16), (1, 10, 4, 64), (3, 90, 0, 33)]
        {
            let s = AttentionShape::new(n, 4, 2, 32, start_pos, 1.0, true, window).unwrap().with_sink(sink);
            let width = s.kv_width();
            let layout = CacheLayout { kind, sink: sink as u32, ring_len: (window + n - 1) as u32 };
            let q = random_vec(&mut rng, s.q_len(), 1.0);
            let k = random_vec(&mut rng, s.kv_len() * width, 1.0);
            let v = random_vec(&mut rng, s.kv_len() * width, 1.0);
            let (kd, vd) = (
                dequantize_rows(kind, &quantize_rows(kind, &k, width), width),
                dequantize_rows(kind, &quantize_rows(kind, &v, width), width),
            );
            // The ring after writing positions 0..kv_len in order: the last writer of a slot wins.
            let slots = layout.slots_needed(s.kv_len() as u32) as usize;
            let row_words = kind.row_words(width);
            let (mut kw, mut vw) = (vec![0u32; slots * row_words], vec![0u32; slots * row_words]);
            for pos in 0..s.kv_len() {
                let slot = layout.slot(pos as u32) as usize;
                kw[slot * row_words..][..row_words].copy_from_slice(&quantize_rows(
                    kind,
                    &k[pos * width..][..width],
                    width,
                ));
                vw[slot * row_words..][..row_words].copy_from_slice(&quantize_rows(
                    kind,
                    &v[pos * width..][..width],
                    width,
                ));
            }
            let scale = 0.17;
            let got = pollster::block_on(attention_stored(gpu, &q, &kw, &vw, &s, scale, layout, None)).unwrap();
            let want = attention_ref_shape(&q, &kd, &vd, &s, scale).unwrap();
            let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
            assert!(worst <= 5e-5, "{kind:?} n {n} start {start_pos} sink {sink} window {window}: {worst}");
        }
    }
    // A ring too small for the batch's window is refused, not read wrong.
    let s = AttentionShape::new(8, 4, 2, 32, 100, 1.0, true, 16).unwrap();
    let layout = CacheLayout { kind: KvType::F32, sink: 0, ring_len: 16 };
    let words = vec![0u32; 16 * 64];
    let err = pollster::block_on(attention_stored(gpu, &vec![0.0; s.q_len()], &words, &words, &s, 1.0, layout, None));
    assert_eq!(err.unwrap_err().code(), "invalid-argument");
}

fn tiny_model(seed: u64) -> Vec<u8> {
    // kv width 2 x 32 = 64: whole 32-value blocks.
    tiny_decoder_gguf(&TinyDecoder {
        architecture: Architecture::Llama,
        seed,
        hidden: 128,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 32,
        ffn: 160,
        context: 512,
        weight_type: GgmlType::Q8_0,
        ..TinyDecoder::default()
    })
    .unwrap()
}

fn ids(n: usize, seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(3..300u32)).collect()
}

/// Largest |gpu - cpu| relative to the largest |cpu| logit of the row.
fn max_rel_diff(gpu: &[f32], cpu: &[f32]) -> f32 {
    let scale = cpu.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    gpu.iter().zip(cpu).map(|(g, c)| (g - c).abs() / scale).fold(0.0, f32::max)
}

/// Teacher forcing through a session with each cache type (prefill chunks
/// and decode steps, the cache growing past its first allocation) against
/// the CPU forward pass that stores its cache the same way.
#[test]
fn sessions_match_the_cpu_reference_for_each_cache_type() {
    let file = tiny_model(21);
    let cpu = CpuModel::from_gguf(&file).unwrap();
    let gpu = gpu().clone();
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    let tokens = ids(300, 1);
    for kind in KvType::ALL {
        let want = cpu.session_with(CpuCacheOptions { kv: kind, window: None }).forward(&tokens).unwrap();
        let opts = SessionOptions {
            context_length: 512,
            max_batch: 32,
            logit_rows: 32,
            kv: kind,
            ..SessionOptions::default()
        };
        let mut s = pollster::block_on(Session::new(gpu.clone(), loaded.model.clone(), &opts)).unwrap();
        let first = s.kv().allocated_bytes();
        let mut got = pollster::block_on(s.logits_all(&tokens[..290])).unwrap();
        for &t in &tokens[290..] {
            got.extend(pollster::block_on(s.logits_all(&[t])).unwrap());
        }
        assert!(s.kv().allocated_bytes() > first, "{kind:?}: the cache did not grow");
        assert_eq!(s.kv_bytes_per_token() as usize, 2 * 2 * kind.row_bytes(64), "{kind:?}: 2 layers x (k, v) rows");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            // The GPU and CPU may round a value to neighbouring codes (see
            // write_kernel_matches_the_cpu_quantizer), so quantized caches get a little slack.
            let tol = if kind == KvType::F32 { 2e-3 } else { 1e-2 };
            let d = max_rel_diff(g, w);
            assert!(d < tol, "{kind:?}: position {i} differs by {d}");
        }
    }
}

/// A session window (sink + recent) runs past the cache's slots and matches
/// the CPU reference that attends to the same positions; a chat-style
/// truncation that needs forgotten keys recomputes them.
#[test]
fn a_windowed_session_matches_the_cpu_reference_past_its_cache() {
    let file = tiny_model(22);
    let cpu = CpuModel::from_gguf(&file).unwrap();
    let gpu = gpu().clone();
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    let tokens = ids(200, 2);
    for kind in [KvType::F32, KvType::Q8] {
        let window = KvWindow { sink: 4, recent: 24 };
        let want = cpu.session_with(CpuCacheOptions { kv: kind, window: Some((4, 24)) }).forward(&tokens).unwrap();
        let opts = SessionOptions {
            context_length: 512,
            max_batch: 8,
            logit_rows: 8,
            kv: kind,
            window: Some(window),
            ..SessionOptions::default()
        };
        let mut s = pollster::block_on(Session::new(gpu.clone(), loaded.model.clone(), &opts)).unwrap();
        // 4 + 24 + 8 - 1 slots per layer, however long the sequence.
        let slots = 4 + 24 + 7;
        assert_eq!(s.kv().allocated_bytes(), (2 * 2 * slots * kind.row_bytes(64)) as u64);
        let got = pollster::block_on(s.logits_all(&tokens)).unwrap();
        let tol = if kind == KvType::F32 { 2e-3 } else { 1e-2 };
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let d = max_rel_diff(g, w);
            assert!(d < tol, "{kind:?}: position {i} differs by {d}");
        }
        // Going back to position 150 needs keys 127..150, long overwritten: only the sink is kept.
        assert_eq!(s.truncate(150), 4);
        let again = pollster::block_on(s.logits_all(&tokens[4..160])).unwrap();
        for (i, (g, w)) in again.iter().zip(&want[4..160]).enumerate() {
            let d = max_rel_diff(g, w);
            assert!(d < tol, "{kind:?}: recomputed position {} differs by {d}", i + 4);
        }
        // A step back within the ring keeps everything.
        assert_eq!(s.truncate(158), 158);
    }
}

/// A full cache is a `context-overflow`, and the session stays usable.
#[test]
fn a_full_cache_is_context_overflow() {
    let file = tiny_model(23);
    let gpu = gpu().clone();
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    let opts = SessionOptions { context_length: 40, kv: KvType::Q4, ..SessionOptions::default() };
    let mut s = pollster::block_on(Session::new(gpu, loaded.model, &opts)).unwrap();
    pollster::block_on(s.logits_all(&ids(38, 3))).unwrap();
    let err = pollster::block_on(s.logits_all(&ids(3, 4))).unwrap_err();
    assert_eq!(err.code(), "context-overflow");
    assert_eq!(s.tokens().len(), 38);
    pollster::block_on(s.logits_all(&ids(2, 5))).unwrap();
}

/// A head size the quantized layouts cannot hold is refused at session creation.
#[test]
fn unsupported_head_sizes_are_refused() {
    let file = tiny_decoder_gguf(&TinyDecoder {
        head_dim: 14,
        hidden: 56,
        weight_type: GgmlType::F32,
        embedding_type: GgmlType::F32,
        ..TinyDecoder::default()
    })
    .unwrap();
    let gpu = gpu().clone();
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    for kind in QUANTIZED {
        let opts = SessionOptions { kv: kind, ..SessionOptions::default() };
        let err = pollster::block_on(Session::new(gpu.clone(), loaded.model.clone(), &opts)).err().unwrap();
        assert_eq!(err.code(), "unsupported-model", "{kind:?}");
    }
    let opts = SessionOptions { kv: KvType::F32, ..SessionOptions::default() };
    assert!(pollster::block_on(Session::new(gpu, loaded.model, &opts)).is_ok());
}
