//! The KV cache on a real wgpu adapter (lavapipe on CI):
//! - the f32/f16 write kernel and the group quantizer against the CPU
//!   layouts of `navaja_core::quant::kv`;
//! - attention reading f16/q8/q4 words (the quantized store plus the f16
//!   ring of recent positions) directly, against the f64 CPU reference over
//!   the same words decoded, for decode and prefill, key counts that are not
//!   multiples of the tile, and split keys;
//! - ring caches (sliding window with attention sinks) against the CPU
//!   reference over the logical positions;
//! - whole sessions of a tiny model with each cache type, growth and a
//!   window, against the CPU reference forward pass with the same cache,
//!   chunked the same way;
//! - a session filled from an f32 session's cache (one prefill for every
//!   cache type, as the cache benchmark does) continuing as the source does.
//!
//! No adapter is a failure, never a skip.

use std::sync::Arc;

use navaja_core::model::Architecture;
use navaja_core::ops::attention::{AttentionShape, attention_ref_shape};
use navaja_core::quant::GgmlType;
use navaja_core::quant::kv::{
    KV_EXACT_START, KV_GROUP, KvRole, KvType, f16_round, load_rows, ring_slot, store_rows, stored_values,
};
use navaja_core::reference::{CpuCacheOptions, CpuModel, CpuSession};
use navaja_core::testing::{TinyDecoder, tiny_decoder_gguf};
use navaja_gpu::GpuDevice;
use navaja_gpu::model::{DecoderModel, load_decoder_gguf};
use navaja_gpu::ops::attention::{AttentionKernel, CacheLayout, PlanChoice, StoredCache, attention_stored};
use navaja_gpu::ops::kv_write::{kv_quantize_roundtrip, kv_write_roundtrip};
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
            let offset = if i % width % 17 == 3 { 4.0 } else { 0.0 };
            offset + rng.random_range(-1.0f32..1.0)
        })
        .collect()
}

#[test]
fn write_kernel_stores_f32_and_f16_rows() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(1);
    for kind in [KvType::F32, KvType::F16] {
        for (width, head_dim, rows, start_pos) in [(192, 64, 5, 0), (96, 32, 1, 37), (256, 256, 3, 9)] {
            let k = key_like(&mut rng, rows, width);
            let v = random_vec(&mut rng, rows * width, 0.7);
            let layout = CacheLayout::linear(kind);
            let [kw, vw] = pollster::block_on(kv_write_roundtrip(
                gpu,
                &k,
                &v,
                width,
                head_dim,
                layout,
                start_pos as u32,
                (start_pos + rows) as u32,
            ))
            .unwrap();
            let row_words = kind.row_words(width);
            for (src, words, role) in [(&k, &kw, KvRole::Key), (&v, &vw, KvRole::Value)] {
                assert!(words[..start_pos * row_words].iter().all(|&w| w == 0), "{kind:?}: wrote before start_pos");
                assert_eq!(
                    &words[start_pos * row_words..],
                    &store_rows(kind, role, src, width)[..],
                    "{kind:?} {width}"
                );
            }
        }
    }
    // Quantized types are written through their f16 ring, never directly.
    let layout = CacheLayout::linear(KvType::Q8);
    let err = pollster::block_on(kv_write_roundtrip(gpu, &[0.0; 64], &[0.0; 64], 64, 32, layout, 0, 1));
    assert_eq!(err.unwrap_err().code(), "invalid-argument");
}

/// A ring store places each position at its slot and leaves the others alone.
#[test]
fn write_kernel_fills_ring_slots() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(2);
    let (width, head_dim) = (64, 32);
    let layout = CacheLayout { kind: KvType::F16, sink: 3, ring_len: 8 };
    // Positions 20..25 in a ring of 8 after a sink of 3: slots 3 + (p - 3) % 8.
    let k = random_vec(&mut rng, 5 * width, 1.0);
    let v = random_vec(&mut rng, 5 * width, 1.0);
    let [kw, _] = pollster::block_on(kv_write_roundtrip(gpu, &k, &v, width, head_dim, layout, 20, 11)).unwrap();
    let row_words = KvType::F16.row_words(width);
    let want = store_rows(KvType::F16, KvRole::Key, &k, width);
    let mut written = [false; 11];
    for (t, pos) in (20u32..25).enumerate() {
        let slot = layout.slot(pos) as usize;
        written[slot] = true;
        assert_eq!(&kw[slot * row_words..][..row_words], &want[t * row_words..][..row_words], "position {pos}");
    }
    for (slot, w) in written.iter().enumerate() {
        if !w {
            assert!(kw[slot * row_words..][..row_words].iter().all(|&x| x == 0), "slot {slot} was overwritten");
        }
    }
}

/// The GPU group quantizer (reading the f16 ring) against the CPU one, into
/// linear and ring stores, from rings that wrap around.
#[test]
fn group_quantizer_matches_the_cpu_quantizer() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(3);
    for kind in [KvType::Q8, KvType::Q4] {
        for (width, head_dim, first_pos, n_groups, ring_slots, layout) in [
            (192, 64, 32, 2, 70, CacheLayout::linear(kind)),
            (96, 32, 64, 1, 45, CacheLayout::linear(kind)),
            (256, 256, 32, 3, 100, CacheLayout::linear(kind)),
            (64, 32, 160, 2, 90, CacheLayout { kind, sink: 32, ring_len: 64 }),
        ] {
            let rows = n_groups as usize * KV_GROUP;
            let k = key_like(&mut rng, rows, width);
            let v = random_vec(&mut rng, rows * width, 0.7);
            // The ring holds the f16 rows at quant::kv::ring_slot.
            let ring_words = KvType::F16.row_words(width);
            let mut ring_k = vec![0u32; (ring_slots as usize + KV_EXACT_START) * ring_words];
            let mut ring_v = ring_k.clone();
            for t in 0..rows {
                let slot = ring_slot(first_pos as usize + t, ring_slots as usize);
                let put = |ring: &mut Vec<u32>, src: &[f32]| {
                    ring[slot * ring_words..][..ring_words].copy_from_slice(&store_rows(
                        KvType::F16,
                        KvRole::Key,
                        &src[t * width..][..width],
                        width,
                    ))
                };
                put(&mut ring_k, &k);
                put(&mut ring_v, &v);
            }
            let end = first_pos + rows as u32;
            let slots = layout.slots_needed(end).next_multiple_of(KV_GROUP as u32);
            let [kw, vw] = pollster::block_on(kv_quantize_roundtrip(
                gpu, &ring_k, &ring_v, ring_slots, width, head_dim, layout, first_pos, n_groups, slots,
            ))
            .unwrap();
            let row_words = kind.row_words(width);
            let (mut same, mut total) = (0usize, 0usize);
            for (src, words, role) in [(&k, &kw, KvRole::Key), (&v, &vw, KvRole::Value)] {
                let want = store_rows(kind, role, &f16_round(src), width);
                // Each group sits at the slots of its first position.
                let mut got = Vec::new();
                for g in 0..n_groups as usize {
                    let slot = layout.slot(first_pos + (g * KV_GROUP) as u32) as usize;
                    got.extend_from_slice(&words[slot * row_words..][..KV_GROUP * row_words]);
                }
                same += want.iter().zip(&got).filter(|(a, b)| a == b).count();
                total += want.len();
                let (want_values, got_values) =
                    (load_rows(kind, role, &want, width), load_rows(kind, role, &got, width));
                let range = src.iter().fold(0f32, |m, x| m.max(x.abs())) * 2.0;
                let step = if kind == KvType::Q8 { range / 254.0 } else { range / 15.0 };
                for (i, (a, b)) in want_values.iter().zip(&got_values).enumerate() {
                    assert!(
                        (a - b).abs() <= step * 1.01,
                        "{kind:?} {role:?} width {width}: value {i}: cpu {a} gpu {b}"
                    );
                }
            }
            // Division and rounding may differ by an ulp between GPU and CPU: codes at exact
            // ties can differ, nothing else.
            assert!(same as f64 >= 0.99 * total as f64, "{kind:?} width {width}: {same}/{total} words equal");
        }
    }
}

/// A cache of `kind` holding positions 0..kv_len of `k`/`v` as the engine
/// stores them with `quantized_end`: the main store (slots by `layout`) and
/// the f16 ring of `ring_slots`; and what attention sees of each position.
struct Built {
    k: Vec<u32>,
    v: Vec<u32>,
    ring: Option<(Vec<u32>, Vec<u32>, u32, u32)>,
    k_seen: Vec<f32>,
    v_seen: Vec<f32>,
}

fn build_cache(
    kind: KvType,
    k: &[f32],
    v: &[f32],
    width: usize,
    layout: CacheLayout,
    quantized_end: usize,
    ring_slots: u32,
) -> Built {
    let kv_len = k.len() / width;
    let row_words = kind.row_words(width);
    let main_end = if kind.is_quantized() { quantized_end } else { kv_len };
    let slots = (layout.slots_needed(main_end as u32) as usize).next_multiple_of(KV_GROUP).max(1);
    let (mut kw, mut vw) = (vec![0u32; slots * row_words], vec![0u32; slots * row_words]);
    let (mut k_seen, mut v_seen) = (Vec::new(), Vec::new());
    // Positions a quantized type keeps f16 in its ring: the first group and those from quantized_end on.
    let in_ring = |pos: usize| kind.is_quantized() && (pos < KV_EXACT_START || pos >= quantized_end);
    // The main store: whole groups for the quantized types (the last writer of a slot wins).
    let unit = if kind.is_quantized() { KV_GROUP } else { 1 };
    for first in (0..main_end).step_by(unit) {
        let span = first * width..(first + unit) * width;
        let slot = layout.slot(first as u32) as usize;
        let input = if kind.is_quantized() { f16_round(&k[span.clone()]) } else { k[span.clone()].to_vec() };
        let words = store_rows(kind, KvRole::Key, &input, width);
        kw[slot * row_words..][..words.len()].copy_from_slice(&words);
        let input = if kind.is_quantized() { f16_round(&v[span.clone()]) } else { v[span.clone()].to_vec() };
        let words = store_rows(kind, KvRole::Value, &input, width);
        vw[slot * row_words..][..words.len()].copy_from_slice(&words);
        if in_ring(first) {
            // The first group: stored like the others, but read from the ring.
            k_seen.extend(f16_round(&k[span.clone()]));
            v_seen.extend(f16_round(&v[span]));
        } else {
            k_seen.extend(stored_values(kind, KvRole::Key, &k[span.clone()], width));
            v_seen.extend(stored_values(kind, KvRole::Value, &v[span], width));
        }
    }
    let ring = kind.is_quantized().then(|| {
        let ring_words = KvType::F16.row_words(width);
        let rows = ring_slots as usize + KV_EXACT_START;
        let (mut rk, mut rv) = (vec![0u32; rows * ring_words], vec![0u32; rows * ring_words]);
        for pos in (0..kv_len).filter(|&p| in_ring(p)) {
            let slot = ring_slot(pos, ring_slots as usize);
            let span = pos * width..(pos + 1) * width;
            rk[slot * ring_words..][..ring_words].copy_from_slice(&store_rows(
                KvType::F16,
                KvRole::Key,
                &k[span.clone()],
                width,
            ));
            rv[slot * ring_words..][..ring_words].copy_from_slice(&store_rows(
                KvType::F16,
                KvRole::Value,
                &v[span.clone()],
                width,
            ));
            if pos >= quantized_end {
                k_seen.extend(f16_round(&k[span.clone()]));
                v_seen.extend(f16_round(&v[span]));
            }
        }
        (rk, rv, ring_slots, quantized_end as u32)
    });
    Built { k: kw, v: vw, ring, k_seen, v_seen }
}

/// GPU attention over the stored words vs the CPU reference over what they stand for.
fn check_attention(rng: &mut StdRng, kind: KvType, s: AttentionShape, quantized_end: usize, splits: Option<u32>) {
    let gpu = gpu();
    let width = s.kv_width();
    let q = random_vec(rng, s.q_len(), 1.0);
    let k = key_like(rng, s.kv_len(), width);
    let v = random_vec(rng, s.kv_len() * width, 1.0);
    let ring_slots = (s.kv_len() - quantized_end).max(1) as u32 + 5;
    let built = build_cache(kind, &k, &v, width, CacheLayout::linear(kind), quantized_end, ring_slots);
    let cache = StoredCache {
        k: &built.k,
        v: &built.v,
        layout: CacheLayout::linear(kind),
        recent: built.ring.as_ref().map(|(k, v, slots, end)| (&k[..], &v[..], *slots, *end)),
    };
    let scale = 1.0 / (s.head_dim as f32).sqrt();
    let want = attention_ref_shape(&q, &built.k_seen, &built.v_seen, &s, scale).unwrap();
    let exact = attention_ref_shape(&q, &k, &v, &s, scale).unwrap();
    for kernel in AttentionKernel::ALL {
        let choice = PlanChoice { kernel: Some(kernel), splits };
        let got = pollster::block_on(attention_stored(gpu, &q, &cache, &s, scale, choice)).unwrap();
        let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
        let what = format!("{kernel:?} {kind:?} {s:?} quantized below {quantized_end}, splits {splits:?}");
        assert!(worst <= 5e-5, "{what}: max abs error {worst}");
        // And the stored values are close to the exact ones (a sanity bound, not the oracle).
        let drift = got.iter().zip(&exact).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
        let bound = match kind {
            KvType::F32 | KvType::F16 => 0.01,
            KvType::Q8 => 0.05,
            KvType::Q4 => 0.5,
        };
        assert!(drift <= bound, "{what}: {drift} away from the f32 attention");
    }
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

/// How much of a cache of `kv_len` positions is quantized: none, most, or all whole groups.
fn quantized_ends(kind: KvType, kv_len: usize) -> Vec<usize> {
    if !kind.is_quantized() {
        return vec![0];
    }
    let all = kv_len / KV_GROUP * KV_GROUP;
    let most = kv_len.saturating_sub(40) / KV_GROUP * KV_GROUP;
    let mut ends = vec![0, most, all];
    ends.dedup();
    ends
}

#[test]
fn quantized_decode_matches_the_cpu_reference() {
    let mut rng = StdRng::seed_from_u64(4);
    for kind in QUANTIZED {
        for (heads, kv_heads, head_dim) in [(9, 3, 64), (4, 1, 256), (8, 2, 128)] {
            for start_pos in [0, 45, 300] {
                for end in quantized_ends(kind, start_pos + 1) {
                    check_attention(&mut rng, kind, shape(1, heads, kv_heads, head_dim, start_pos, 0), end, None);
                }
            }
        }
        // Split keys (flash-decoding) with a key count that is not a multiple of the tile.
        check_attention(
            &mut rng,
            kind,
            shape(1, 9, 3, 64, 1000, 0),
            quantized_ends(kind, 1001)[1..].first().copied().unwrap_or(0),
            Some(7),
        );
        check_attention(
            &mut rng,
            kind,
            shape(1, 9, 3, 64, 200, 64),
            quantized_ends(kind, 201).last().copied().unwrap(),
            None,
        );
    }
}

#[test]
fn quantized_prefill_matches_the_cpu_reference() {
    let mut rng = StdRng::seed_from_u64(5);
    for kind in QUANTIZED {
        for (n, heads, kv_heads, head_dim, start_pos) in [(13, 9, 3, 64, 0), (37, 4, 2, 32, 61), (5, 4, 1, 256, 3)] {
            for end in quantized_ends(kind, start_pos + n) {
                check_attention(&mut rng, kind, shape(n, heads, kv_heads, head_dim, start_pos, 0), end, None);
            }
        }
    }
}

/// A ring of slots holding only what the rows of a batch of `n` at
/// `start_pos` can see (plus the sink), against the CPU reference over every position.
#[test]
fn ring_cache_with_sink_matches_the_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(6);
    for kind in [KvType::F32, KvType::F16, KvType::Q8, KvType::Q4] {
        for (n, start_pos, sink, window) in
            [(1usize, 500usize, 4usize, 64usize), (7, 300, 2, 40), (16, 16, 4, 16), (1, 10, 4, 64), (3, 90, 0, 33)]
        {
            // The quantized store keeps whole groups: sink and ring rounded up to 32.
            let group = if kind.is_quantized() { KV_GROUP } else { 1 };
            let sink = sink.next_multiple_of(group);
            let ring_len = (window + n - 1).next_multiple_of(group);
            let s = AttentionShape::new(n, 4, 2, 32, start_pos, 1.0, true, window).unwrap().with_sink(sink);
            let width = s.kv_width();
            let layout = CacheLayout { kind, sink: sink as u32, ring_len: ring_len as u32 };
            let q = random_vec(&mut rng, s.q_len(), 1.0);
            let k = random_vec(&mut rng, s.kv_len() * width, 1.0);
            let v = random_vec(&mut rng, s.kv_len() * width, 1.0);
            let end = quantized_ends(kind, s.kv_len()).last().copied().unwrap();
            let ring_slots = (s.kv_len() - end) as u32 + 3;
            let built = build_cache(kind, &k, &v, width, layout, end, ring_slots);
            let cache = StoredCache {
                k: &built.k,
                v: &built.v,
                layout,
                recent: built.ring.as_ref().map(|(k, v, slots, end)| (&k[..], &v[..], *slots, *end)),
            };
            let scale = 0.17;
            let want = attention_ref_shape(&q, &built.k_seen, &built.v_seen, &s, scale).unwrap();
            for kernel in AttentionKernel::ALL {
                let choice = PlanChoice { kernel: Some(kernel), splits: None };
                let got = pollster::block_on(attention_stored(gpu, &q, &cache, &s, scale, choice)).unwrap();
                let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
                assert!(
                    worst <= 5e-5,
                    "{kernel:?} {kind:?} n {n} start {start_pos} sink {sink} window {window}: {worst}"
                );
            }
        }
    }
    // A ring too small for the batch's window is refused, not read wrong.
    let s = AttentionShape::new(8, 4, 2, 32, 100, 1.0, true, 16).unwrap();
    let words = vec![0u32; 16 * 64];
    let cache = StoredCache {
        k: &words,
        v: &words,
        layout: CacheLayout { kind: KvType::F32, sink: 0, ring_len: 16 },
        recent: None,
    };
    let err = pollster::block_on(attention_stored(gpu, &vec![0.0; s.q_len()], &cache, &s, 1.0, PlanChoice::default()));
    assert_eq!(err.unwrap_err().code(), "invalid-argument");
    // So is a quantized cache without its ring.
    let s = AttentionShape::new(1, 4, 2, 32, 10, 1.0, true, 0).unwrap();
    let cache = StoredCache { k: &words, v: &words, layout: CacheLayout::linear(KvType::Q8), recent: None };
    let err = pollster::block_on(attention_stored(gpu, &vec![0.0; s.q_len()], &cache, &s, 1.0, PlanChoice::default()));
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

/// The CPU logits of `tokens` fed in chunks of `chunk`, as `Session::logits_all` feeds them.
fn cpu_chunks(session: &mut CpuSession<'_>, tokens: &[u32], chunk: usize) -> Vec<Vec<f32>> {
    tokens.chunks(chunk).flat_map(|c| session.forward(c).unwrap()).collect()
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
        let mut cpu_session = cpu.session_with(CpuCacheOptions { kv: kind, window: None });
        let mut want = cpu_chunks(&mut cpu_session, &tokens[..290], 32);
        want.extend(cpu_chunks(&mut cpu_session, &tokens[290..], 1));
        let opts = SessionOptions {
            context_length: 512,
            max_batch: 32,
            logit_rows: 32,
            kv: Some(kind),
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
    // The quantized store keeps whole groups: its sink is a multiple of 32.
    for (kind, sink) in [(KvType::F32, 4), (KvType::Q8, 32)] {
        let window = KvWindow { sink, recent: 24 };
        let mut cpu_session = cpu.session_with(CpuCacheOptions { kv: kind, window: Some((sink, 24)) });
        let want = cpu_chunks(&mut cpu_session, &tokens, 8);
        let opts = SessionOptions {
            context_length: 512,
            max_batch: 8,
            logit_rows: 8,
            kv: Some(kind),
            window: Some(window),
            ..SessionOptions::default()
        };
        let mut s = pollster::block_on(Session::new(gpu.clone(), loaded.model.clone(), &opts)).unwrap();
        // sink + 24 + 8 - 1 slots per layer (in whole groups when quantized), however long the sequence.
        let slots = if kind.is_quantized() { 32 + 32 } else { 4 + 24 + 7 };
        let main = (2 * 2 * slots * kind.row_bytes(64)) as u64;
        assert_eq!(s.kv().allocated_bytes(), main + s.kv().ring_bytes());
        let got = pollster::block_on(s.logits_all(&tokens)).unwrap();
        let tol = if kind == KvType::F32 { 2e-3 } else { 1e-2 };
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let d = max_rel_diff(g, w);
            assert!(d < tol, "{kind:?}: position {i} differs by {d}");
        }
        // Going back to position 150 needs keys 127..150, long overwritten: only the sink is kept.
        let kept = s.truncate(150);
        assert_eq!(kept, sink);
        cpu_session.truncate(kept);
        let want = cpu_chunks(&mut cpu_session, &tokens[kept..160], 8);
        let again = pollster::block_on(s.logits_all(&tokens[kept..160])).unwrap();
        for (i, (g, w)) in again.iter().zip(&want).enumerate() {
            let d = max_rel_diff(g, w);
            assert!(d < tol, "{kind:?}: recomputed position {} differs by {d}", i + kept);
        }
        // A step back within the recent positions keeps everything.
        assert_eq!(s.truncate(158), 158);
    }
}

/// Truncating into quantized groups keeps the whole groups below and
/// computes the rest again, as the CPU reference does.
#[test]
fn truncating_a_quantized_cache_recomputes_the_cut_group() {
    let file = tiny_model(24);
    let cpu = CpuModel::from_gguf(&file).unwrap();
    let gpu = gpu().clone();
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    for kind in [KvType::Q8, KvType::Q4] {
        // Enough tokens that positions below 96 are quantized, whatever `recent` is.
        let tokens = ids(116 + kind.recent(), 6);
        let mut cpu_session = cpu.session_with(CpuCacheOptions { kv: kind, window: None });
        cpu_chunks(&mut cpu_session, &tokens, 16);
        let opts = SessionOptions {
            context_length: 320,
            max_batch: 16,
            logit_rows: 16,
            kv: Some(kind),
            ..SessionOptions::default()
        };
        let mut s = pollster::block_on(Session::new(gpu.clone(), loaded.model.clone(), &opts)).unwrap();
        pollster::block_on(s.logits_all(&tokens)).unwrap();
        // Position 70 lies in the quantized group 64..96: it restarts at 64.
        assert_eq!(s.truncate(70), 64);
        cpu_session.truncate(64);
        let other = ids(40, 7);
        let want = cpu_chunks(&mut cpu_session, &other, 16);
        let got = pollster::block_on(s.logits_all(&other)).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let d = max_rel_diff(g, w);
            assert!(d < 1e-2, "{kind:?}: position {} differs by {d}", 64 + i);
        }
        // Cutting only recent (f16) positions keeps them all.
        let len = s.tokens().len();
        assert_eq!(s.truncate(len - 3), len - 3);
    }
}

fn session(gpu: &Arc<GpuDevice>, model: &Arc<dyn DecoderModel>, kind: KvType) -> Session {
    let opts = SessionOptions {
        context_length: 384,
        max_batch: 32,
        logit_rows: 32,
        kv: Some(kind),
        ..SessionOptions::default()
    };
    pollster::block_on(Session::new(gpu.clone(), model.clone(), &opts)).unwrap()
}

/// One prefill gives every cache type the same context: a session filled
/// from an f32 session's cache continues as the f32 session itself does
/// (f32), and as the CPU reference that prefilled with its own type does
/// (the others: they differ only in how the prefill's attention rounded).
#[test]
fn a_session_filled_from_an_f32_cache_continues_it() {
    let file = tiny_model(25);
    let cpu = CpuModel::from_gguf(&file).unwrap();
    let gpu = gpu().clone();
    let model = load_decoder_gguf(&gpu, &file).unwrap().model;
    let tokens = ids(320, 8);
    // 300 positions: chunks of 32, and groups quantized into the store by
    // the copy itself (q4 keeps its last 128 positions in the ring).
    let (context, next) = tokens.split_at(300);
    let mut source = session(&gpu, &model, KvType::F32);
    pollster::block_on(source.logits_all(context)).unwrap();
    for kind in KvType::ALL {
        let mut filled = session(&gpu, &model, kind);
        pollster::block_on(filled.copy_context_from(&source)).unwrap();
        assert_eq!(filled.tokens(), context, "{kind:?}");
        let got = pollster::block_on(filled.logits_all(next)).unwrap();
        let mut cpu_session = cpu.session_with(CpuCacheOptions { kv: kind, window: None });
        cpu_chunks(&mut cpu_session, context, 32);
        let want = cpu_chunks(&mut cpu_session, next, 32);
        // Measured: f32 7e-7, f16 2e-4, q8 3e-3, q4 1.5e-2 (4-bit codes of
        // slightly different values); a cache shifted by one position: 0.3.
        let tol = match kind {
            KvType::F32 => 2e-3,
            KvType::F16 | KvType::Q8 => 1e-2,
            KvType::Q4 => 3e-2,
        };
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let d = max_rel_diff(g, w);
            assert!(d < tol, "{kind:?}: position {} differs by {d}", 300 + i);
        }
    }
    // The f32 copy holds what the source holds: it continues exactly alike.
    let mut copy = session(&gpu, &model, KvType::F32);
    pollster::block_on(copy.copy_context_from(&source)).unwrap();
    let want = pollster::block_on(source.logits_all(next)).unwrap();
    let got = pollster::block_on(copy.logits_all(next)).unwrap();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let d = max_rel_diff(g, w);
        assert!(d < 1e-6, "f32 copy: position {} differs by {d}", 300 + i);
    }
}

/// What cannot be copied is refused with `invalid-argument`, and both sessions stay usable.
#[test]
fn copying_a_context_refuses_what_it_cannot_copy() {
    let file = tiny_model(26);
    let gpu = gpu().clone();
    let model = load_decoder_gguf(&gpu, &file).unwrap().model;
    let other_model = load_decoder_gguf(&gpu, &tiny_model(27)).unwrap().model;
    let context = ids(40, 9);
    let mut source = session(&gpu, &model, KvType::F32);
    let mut empty = session(&gpu, &model, KvType::Q8);
    let code = |r: navaja_core::Result<()>| r.unwrap_err().code();
    assert_eq!(code(pollster::block_on(empty.copy_context_from(&source))), "invalid-argument", "empty source");
    pollster::block_on(source.logits_all(&context)).unwrap();
    let mut quantized = session(&gpu, &model, KvType::Q8);
    pollster::block_on(quantized.logits_all(&context)).unwrap();
    let mut f32_target = session(&gpu, &model, KvType::F32);
    assert_eq!(code(pollster::block_on(f32_target.copy_context_from(&quantized))), "invalid-argument", "q8 source");
    assert_eq!(code(pollster::block_on(quantized.copy_context_from(&source))), "invalid-argument", "full target");
    let mut foreign = session(&gpu, &other_model, KvType::Q8);
    assert_eq!(code(pollster::block_on(foreign.copy_context_from(&source))), "invalid-argument", "other model");
    let small = SessionOptions { context_length: 16, kv: Some(KvType::F32), ..SessionOptions::default() };
    let mut short = pollster::block_on(Session::new(gpu.clone(), model.clone(), &small)).unwrap();
    assert_eq!(code(pollster::block_on(short.copy_context_from(&source))), "context-overflow", "too short");
    // Nothing was half-copied: the refused targets still run.
    assert!(short.tokens().is_empty() && foreign.tokens().is_empty());
    pollster::block_on(empty.copy_context_from(&source)).unwrap();
    pollster::block_on(empty.logits_all(&ids(3, 10))).unwrap();
    pollster::block_on(short.logits_all(&ids(3, 10))).unwrap();
}

/// A full cache is a `context-overflow`, and the session stays usable.
#[test]
fn a_full_cache_is_context_overflow() {
    let file = tiny_model(23);
    let gpu = gpu().clone();
    let loaded = load_decoder_gguf(&gpu, &file).unwrap();
    let opts = SessionOptions { context_length: 40, kv: Some(KvType::Q4), ..SessionOptions::default() };
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
        let opts = SessionOptions { kv: Some(kind), ..SessionOptions::default() };
        let err = pollster::block_on(Session::new(gpu.clone(), loaded.model.clone(), &opts)).err().unwrap();
        assert_eq!(err.code(), "unsupported-model", "{kind:?}");
    }
    let opts = SessionOptions { kv: Some(KvType::F32), ..SessionOptions::default() };
    assert!(pollster::block_on(Session::new(gpu, loaded.model, &opts)).is_ok());
}
