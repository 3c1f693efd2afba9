//! Logit adjustments and top-k on a real wgpu adapter (lavapipe on CI)
//! against the CPU reference: vocabularies from 1 to 262144, duplicate
//! maxima, NaN and infinities, k from 1 to MAX_TOP_K. No adapter is a
//! failure, never a skip.

use std::time::Instant;

use navaja_core::ops::logits::{TopKResult, logit_adjust_ref, top_k_ref};
use navaja_gpu::ops::logits::{
    LogitAdjust, MAX_TOP_K, TopK, adjustment_bytes, decode_top_k, logit_adjust, top_k, top_k_out_words,
    top_k_scratch_bytes,
};
use rand::{RngExt, SeedableRng, rngs::StdRng};

mod common;
use common::gpu;

/// Logits on a grid of quarters, so ties (and -0.0 / 0.0) are common.
fn tied_logits(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| (rng.random_range(-40.0f32..40.0)).round() / 4.0).collect()
}

fn assert_same(got: &TopKResult, want: &TopKResult, what: &str) {
    assert_eq!(got.candidates.len(), want.candidates.len(), "{what}: candidate count");
    for (i, (g, w)) in got.candidates.iter().zip(&want.candidates).enumerate() {
        assert!(g.0 == w.0 && g.1 == w.1, "{what}: candidate {i}: gpu {g:?} vs cpu {w:?}");
    }
    assert_eq!(got.max.to_bits(), want.max.to_bits(), "{what}: max {} vs {}", got.max, want.max);
    let tol = 2e-5 + 2e-6 * want.log_sum_exp.abs();
    assert!(
        (got.log_sum_exp - want.log_sum_exp).abs() <= tol,
        "{what}: log_sum_exp gpu {} vs cpu {}",
        got.log_sum_exp,
        want.log_sum_exp
    );
}

fn check(logits: &[f32], k: u32, temperature: f32, what: &str) {
    let got = pollster::block_on(top_k(gpu(), logits, k, temperature)).unwrap();
    let want = top_k_ref(logits, k as usize, temperature).unwrap();
    assert_same(&got, &want, &format!("{what}, n_vocab {}, k {k}, T {temperature}", logits.len()));
}

#[test]
fn top_k_matches_cpu_reference() {
    let mut rng = StdRng::seed_from_u64(21);
    for n_vocab in [1usize, 2, 1000, 1024, 1025, 2049, 49152, 262144] {
        let logits = tied_logits(&mut rng, n_vocab);
        for temperature in [0.0, 0.7, 1.0] {
            // The best k are a prefix of the best MAX_TOP_K: one reference serves every k.
            let full = top_k_ref(&logits, MAX_TOP_K as usize, temperature).unwrap();
            for k in [1, 2, 40, 129, MAX_TOP_K] {
                let got = pollster::block_on(top_k(gpu(), &logits, k, temperature)).unwrap();
                let mut want = full.clone();
                want.candidates.truncate(k as usize);
                assert_same(&got, &want, &format!("n_vocab {n_vocab}, k {k}, T {temperature}"));
            }
        }
    }
}

#[test]
fn duplicate_maxima_pick_the_smallest_id() {
    let mut rng = StdRng::seed_from_u64(22);
    let mut logits = tied_logits(&mut rng, 49152);
    for id in [40000, 777, 30001, 49151] {
        logits[id] = 50.0;
    }
    for k in [1, 3, 40] {
        check(&logits, k, 1.0, "four equal maxima");
    }
    let got = pollster::block_on(top_k(gpu(), &logits, 1, 0.0)).unwrap();
    assert_eq!(got.candidates, vec![(777, 50.0)]);
    // Every logit equal.
    check(&vec![1.5; 262144], 1, 1.0, "constant");
    check(&vec![1.5; 5000], 40, 1.0, "constant");
}

#[test]
fn nan_and_infinities() {
    let mut rng = StdRng::seed_from_u64(23);
    let mut logits = tied_logits(&mut rng, 49152);
    for i in (0..logits.len()).step_by(7) {
        logits[i] = f32::NAN;
    }
    for i in (3..logits.len()).step_by(11) {
        logits[i] = f32::NEG_INFINITY;
    }
    for k in [1, 40, MAX_TOP_K] {
        check(&logits, k, 1.0, "NaN and -inf");
    }
    logits[1234] = f32::INFINITY;
    logits[99] = f32::INFINITY;
    for k in [1, 40] {
        check(&logits, k, 1.0, "+inf");
    }
    // Nothing but NaN: every entry counts as -inf.
    let nans = vec![f32::NAN; 3000];
    for k in [1, 40] {
        check(&nans, k, 1.0, "all NaN");
    }
    // A single NaN logit.
    check(&[f32::NAN], 1, 1.0, "one NaN");
    check(&[f32::NAN], 40, 1.0, "one NaN");
}

#[test]
fn probabilities_from_the_result_sum_to_one() {
    let mut rng = StdRng::seed_from_u64(24);
    let logits: Vec<f32> = (0..200).map(|_| rng.random_range(-5.0f32..5.0)).collect();
    let r = pollster::block_on(top_k(gpu(), &logits, 200, 0.8)).unwrap();
    let total: f32 = r.probabilities(0.8).iter().sum();
    assert!((total - 1.0).abs() < 1e-5, "{total}");
}

#[test]
fn logit_adjust_matches_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(25);
    let logits: Vec<f32> = (0..49152).map(|_| rng.random_range(-10.0f32..10.0)).collect();
    let mut ids: Vec<u32> = (0..49152).collect();
    for i in 0..300 {
        let j = rng.random_range(i..ids.len());
        ids.swap(i, j);
    }
    let mut entries: Vec<(u32, f32, f32)> =
        ids[..300].iter().map(|&id| (id, rng.random_range(1.0f32..2.0), rng.random_range(-1.0f32..1.0))).collect();
    entries.push((49152, 2.0, 100.0)); // out of range: ignored
    entries.push((u32::MAX, 2.0, 100.0));
    let got = pollster::block_on(logit_adjust(gpu, &logits, &entries)).unwrap();
    let mut want = logits.clone();
    logit_adjust_ref(&mut want, &entries);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "[{i}]: gpu {g} vs cpu {w}");
    }
    // No entries: unchanged.
    assert_eq!(pollster::block_on(logit_adjust(gpu, &logits, &[])).unwrap(), logits);
}

#[test]
fn logit_adjust_at_an_offset_then_top_k() {
    let gpu = gpu();
    // Two rows of 10 logits; adjust and rank the second one.
    let logits: Vec<f32> = (0..20).map(|i| i as f32 * 0.5 - 5.0).collect();
    let buf = gpu.storage("logits", 80).unwrap();
    gpu.queue.write_buffer(&buf, 0, bytemuck::cast_slice(&logits));
    let entries = [(0u32, 1.0f32, 20.0f32), (9, 2.0, 0.0)];
    let entries_buf = gpu.upload_bytes("entries", &adjustment_bytes(&entries)).unwrap();
    let out = gpu.storage("out", top_k_out_words(3) * 4).unwrap();
    let scratch = gpu.storage("scratch", top_k_scratch_bytes(10, 3)).unwrap();
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    LogitAdjust { logits: &buf, offset: 10, entries: &entries_buf, count: 2 }.encode(gpu, &mut encoder).unwrap();
    TopK { logits: &buf, offset: 10, n_vocab: 10, k: 3, temperature: 1.0, out: &out, scratch: &scratch }
        .encode(gpu, &mut encoder)
        .unwrap();
    gpu.queue.submit([encoder.finish()]);
    let words: Vec<u32> = pollster::block_on(gpu.read_f32(&out, 8)).unwrap().into_iter().map(f32::to_bits).collect();
    let got = decode_top_k(&words, 3);
    let mut row = logits[10..].to_vec();
    logit_adjust_ref(&mut row, &entries);
    assert_same(&got, &top_k_ref(&row, 3, 1.0).unwrap(), "offset row");
    assert_eq!(got.candidates[0], (0, 20.0));
}

#[test]
fn scratch_for_max_k_fits_every_k() {
    for n_vocab in [1, 1000, 1025, 2049, 32000, 49152, 151936, 262144, 1 << 20] {
        let max = top_k_scratch_bytes(n_vocab, MAX_TOP_K);
        for k in 1..=MAX_TOP_K {
            assert!(top_k_scratch_bytes(n_vocab, k) <= max, "n_vocab {n_vocab} k {k}");
        }
    }
}

#[test]
fn bad_arguments_are_invalid() {
    let gpu = gpu();
    for (logits, k, t) in
        [(vec![1.0], 0, 1.0), (vec![1.0], MAX_TOP_K + 1, 1.0), (vec![], 1, 1.0), (vec![1.0], 1, f32::NAN)]
    {
        assert_eq!(pollster::block_on(top_k(gpu, &logits, k, t)).unwrap_err().code(), "invalid-argument");
    }
    let logits = gpu.storage("logits", 20000).unwrap();
    let out = gpu.storage("out", top_k_out_words(40) * 4).unwrap();
    let scratch = gpu.storage("scratch", 16).unwrap();
    let big_scratch = gpu.storage("big scratch", top_k_scratch_bytes(1000, 40)).unwrap();
    let op = |n_vocab, k, out: &wgpu::Buffer, scratch: &wgpu::Buffer| {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        TopK { logits: &logits, offset: 0, n_vocab, k, temperature: 1.0, out, scratch }.encode(gpu, &mut encoder)
    };
    assert_eq!(op(5001, 40, &out, &big_scratch).unwrap_err().code(), "invalid-argument"); // logits too short
    assert_eq!(op(1000, 41, &out, &big_scratch).unwrap_err().code(), "invalid-argument"); // out too short
    assert_eq!(op(3000, 1, &out, &scratch).unwrap_err().code(), "invalid-argument"); // scratch too small
    assert_eq!(op(1000, 40, &out, &out).unwrap_err().code(), "invalid-argument"); // aliasing
    assert_eq!(op(0, 1, &out, &scratch).unwrap_err().code(), "invalid-argument");
    assert!(op(1000, 40, &out, &big_scratch).is_ok());
    gpu.check_health().unwrap();
}

/// Not a check: how long greedy top-1 over a 49152-token vocabulary takes on this adapter.
#[test]
fn timing_top_1_of_49152() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(26);
    let n_vocab = 49152u32;
    let logits: Vec<f32> = (0..n_vocab).map(|_| rng.random_range(-10.0f32..10.0)).collect();
    let logits = gpu.upload_f32("logits", &logits).unwrap();
    let out = gpu.storage("out", top_k_out_words(1) * 4).unwrap();
    let scratch = gpu.storage("scratch", top_k_scratch_bytes(n_vocab, 1)).unwrap();
    let op = TopK { logits: &logits, offset: 0, n_vocab, k: 1, temperature: 0.0, out: &out, scratch: &scratch };
    let run = |iterations: u32| {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        for _ in 0..iterations {
            op.encode(gpu, &mut encoder).unwrap();
        }
        gpu.queue.submit([encoder.finish()]);
        gpu.wait_idle().unwrap();
    };
    run(2);
    let iterations = 50;
    let start = Instant::now();
    run(iterations);
    eprintln!("top_k k=1 over {n_vocab} logits: {:?} per call on {}", start.elapsed() / iterations, gpu.adapter.name);
}

/// Not a check (`cargo test --test logits_gpu -- --ignored --nocapture`): the
/// median time of one top-k call, for greedy (k = 1), the sampling default
/// (k = 40) and the candidates asked for with top-k off (k = 128).
#[test]
#[ignore]
fn timing_top_k() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(27);
    for n_vocab in [49152u32, 262144] {
        // Roughly the shape of real logits: a dense bulk and a thin upper tail.
        let logits: Vec<f32> = (0..n_vocab)
            .map(|_| {
                let u: f32 = rng.random_range(0.0f32..1.0);
                rng.random_range(-8.0f32..8.0) + if u < 0.001 { 10.0 * u / 0.001 } else { 0.0 }
            })
            .collect();
        let logits = gpu.upload_f32("logits", &logits).unwrap();
        let out = gpu.storage("out", top_k_out_words(MAX_TOP_K) * 4).unwrap();
        let scratch = gpu.storage("scratch", top_k_scratch_bytes(n_vocab, MAX_TOP_K)).unwrap();
        for k in [1u32, 40, 128] {
            let op = TopK { logits: &logits, offset: 0, n_vocab, k, temperature: 0.8, out: &out, scratch: &scratch };
            // (time to record on the host, total time to the result)
            let run = || {
                let start = Instant::now();
                let mut encoder = gpu.device.create_command_encoder(&Default::default());
                op.encode(gpu, &mut encoder).unwrap();
                let recorded = start.elapsed();
                gpu.queue.submit([encoder.finish()]);
                gpu.wait_idle().unwrap();
                (recorded, start.elapsed())
            };
            run();
            let (mut recorded, mut total): (Vec<_>, Vec<_>) = (0..15).map(|_| run()).unzip();
            recorded.sort();
            total.sort();
            let ms = |times: &[std::time::Duration]| times[times.len() / 2].as_secs_f64() * 1e3;
            eprintln!(
                "top_k k={k:3} over {n_vocab:6} logits: median {:.2} ms ({:.2} ms recording) on {}",
                ms(&total),
                ms(&recorded),
                gpu.adapter.name
            );
        }
    }
}

/// Continuous logits (few ties) exercise the radix select's threshold
/// levels: spread out (the first histogram level suffices), packed into a
/// narrow range (the second level is needed), and a handful far above.
#[test]
fn radix_select_levels_match_cpu_reference() {
    let mut rng = StdRng::seed_from_u64(28);
    for n_vocab in [1025usize, 49152, 262144] {
        let spread: Vec<f32> = (0..n_vocab).map(|_| rng.random_range(-30.0f32..30.0)).collect();
        let narrow: Vec<f32> = (0..n_vocab).map(|_| 3.0 + rng.random_range(0.0f32..0.01)).collect();
        let mut tail = narrow.clone();
        for i in (0..n_vocab).step_by(997) {
            tail[i] = rng.random_range(20.0f32..21.0);
        }
        for (name, logits) in [("spread", &spread), ("narrow", &narrow), ("tail", &tail)] {
            for k in [2, 7, 64, 200, MAX_TOP_K] {
                check(logits, k, 0.9, name);
            }
        }
    }
}
