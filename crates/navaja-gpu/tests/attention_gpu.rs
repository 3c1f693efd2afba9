//! Flash attention on a real wgpu adapter (lavapipe on CI) against the f64
//! CPU reference: grouped heads, causal and not, sliding windows, head sizes
//! 40/64/128/256, key counts that are not multiples of the tile, and the
//! split (flash-decoding) path, each for both kernels (the workgroup tiles
//! GPUs run and the one-row-per-invocation lanes CPU adapters run). No
//! adapter is a failure, never a skip.

use std::time::Instant;

use navaja_core::ops::attention::{AttentionShape, attention_ref};
use navaja_gpu::ops::attention::{Attention, AttentionKernel, PlanChoice, attention};
use rand::{RngExt, SeedableRng, rngs::StdRng};

mod common;
use common::gpu;

fn random_vec(rng: &mut StdRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-scale..scale)).collect()
}

/// Outputs are convex combinations of values in [-1, 1]: absolute error.
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        worst = worst.max(err);
        assert!(err <= 2e-5, "{what}: element {i}: gpu {g} vs cpu {w}");
    }
    eprintln!("{what}: max abs error {worst:e}");
}

/// Runs one case on the GPU with each kernel (optionally forcing `splits`) and on the CPU.
fn check(rng: &mut StdRng, s: AttentionShape, q_scale: f32, splits: Option<u32>) {
    let gpu = gpu();
    let q = random_vec(rng, s.q_len(), q_scale);
    let k = random_vec(rng, s.kv_len() * s.kv_width(), 1.0);
    let v = random_vec(rng, s.kv_len() * s.kv_width(), 1.0);
    let scale = 1.0 / (s.head_dim as f32).sqrt();
    let want = attention_ref(
        &q,
        &k,
        &v,
        s.n_tokens,
        s.n_heads,
        s.n_kv_heads,
        s.head_dim,
        s.start_pos,
        scale,
        s.causal,
        s.window,
    )
    .unwrap();
    for kernel in AttentionKernel::ALL {
        let choice = PlanChoice { kernel: Some(kernel), splits };
        let got = pollster::block_on(attention(gpu, &q, &k, &v, &s, scale, choice)).unwrap();
        assert_close(&got, &want, &format!("{kernel:?} {s:?} q scale {q_scale} splits {splits:?}"));
    }
}

fn shape(
    n_tokens: usize,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
    start_pos: usize,
    causal: bool,
    window: usize,
) -> AttentionShape {
    AttentionShape::new(n_tokens, n_heads, n_kv_heads, head_dim, start_pos, 1.0, causal, window).unwrap()
}

#[test]
fn decode_matches_cpu_reference() {
    let mut rng = StdRng::seed_from_u64(1);
    for head_dim in [64, 256, 40] {
        for (start_pos, window) in [(0, 0), (100, 0), (100, 16), (7, 16)] {
            check(&mut rng, shape(1, 9, 3, head_dim, start_pos, true, window), 1.0, None);
        }
    }
    check(&mut rng, shape(1, 4, 4, 128, 100, true, 0), 1.0, None);
    check(&mut rng, shape(1, 8, 1, 64, 100, false, 0), 1.0, None);
}

#[test]
fn prefill_matches_cpu_reference() {
    let mut rng = StdRng::seed_from_u64(2);
    for (n_tokens, head_dim) in [(3, 64), (17, 40), (70, 64), (17, 256), (3, 128)] {
        for start_pos in [0, 100] {
            for (causal, window) in [(true, 0), (true, 16), (false, 0), (false, 16)] {
                check(&mut rng, shape(n_tokens, 9, 3, head_dim, start_pos, causal, window), 1.0, None);
            }
        }
    }
    check(&mut rng, shape(70, 2, 1, 256, 0, true, 0), 1.0, None);
    // Head sizes that are not a multiple of 4 (the vec4 tiles are zero-padded).
    check(&mut rng, shape(17, 9, 3, 42, 100, true, 16), 1.0, None);
    check(&mut rng, shape(5, 4, 4, 6, 30, false, 0), 1.0, None);
    check(&mut rng, shape(1, 4, 2, 6, 300, true, 0), 1.0, Some(3));
}

#[test]
fn split_keys_match_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(3);
    let op_shape = shape(1, 9, 3, 64, 1999, true, 0);
    let dummy = gpu.output_f32("dummy", 4).unwrap();
    let dummy2 = gpu.output_f32("dummy2", 4).unwrap();
    let op = Attention {
        q: &dummy,
        q_offset: 0,
        k_cache: &dummy,
        v_cache: &dummy,
        cache: Default::default(),
        recent: None,
        out: &dummy2,
        out_offset: 0,
        n_tokens: 1,
        n_heads: 9,
        n_kv_heads: 3,
        head_dim: 64,
        start_pos: 1999,
        scale: 0.125,
        causal: true,
        window: 0,
    };
    // Tiles and lanes split a long decode across workgroups; scores has one
    // invocation per key and never splits.
    for kernel in [AttentionKernel::Tiles, AttentionKernel::Lanes] {
        let plan = op.plan_for(gpu, kernel).unwrap();
        assert!(plan.splits() > 1, "{plan:?}");
    }
    let plan = op.plan_for(gpu, AttentionKernel::Scores).unwrap();
    assert_eq!(plan.with_splits(7).splits(), 1, "{plan:?}");
    check(&mut rng, op_shape, 1.0, None);
    // Forced splits, including splits with no visible keys (window, causal prefill).
    for (s, splits) in [
        (shape(1, 9, 3, 64, 2000, true, 0), 7),
        (shape(1, 9, 3, 256, 300, true, 16), 5),
        (shape(17, 9, 3, 40, 100, true, 0), 3),
        (shape(3, 4, 2, 128, 333, false, 16), 64),
        (shape(70, 9, 3, 64, 0, true, 16), 4),
    ] {
        check(&mut rng, s, 1.0, Some(splits));
    }
}

#[test]
fn large_scores_stay_stable() {
    // Scores in the hundreds: the online softmax must rescale, not overflow.
    let mut rng = StdRng::seed_from_u64(4);
    check(&mut rng, shape(17, 9, 3, 64, 100, true, 0), 30.0, None);
    check(&mut rng, shape(1, 9, 3, 64, 1000, true, 0), 30.0, Some(8));
}

#[test]
fn writes_at_offsets_into_a_larger_cache() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(5);
    let s = shape(3, 4, 2, 64, 50, true, 0);
    let capacity = 80; // more rows than the call uses
    let q = random_vec(&mut rng, s.q_len() + 10, 1.0);
    let k = random_vec(&mut rng, capacity * s.kv_width(), 1.0);
    let v = random_vec(&mut rng, capacity * s.kv_width(), 1.0);
    let q_buf = gpu.upload_f32("q", &q).unwrap();
    let k_buf = gpu.upload_f32("k", &k).unwrap();
    let v_buf = gpu.upload_f32("v", &v).unwrap();
    let out = gpu.storage("out", ((s.q_len() + 6) * 4) as u64).unwrap();
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    Attention {
        q: &q_buf,
        q_offset: 10,
        k_cache: &k_buf,
        v_cache: &v_buf,
        cache: Default::default(),
        recent: None,
        out: &out,
        out_offset: 6,
        n_tokens: 3,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 64,
        start_pos: 50,
        scale: 0.125,
        causal: true,
        window: 0,
    }
    .encode(gpu, &mut encoder)
    .unwrap();
    gpu.queue.submit([encoder.finish()]);
    let got = pollster::block_on(gpu.read_f32(&out, s.q_len() + 6)).unwrap();
    let kv = s.kv_len() * s.kv_width();
    let want = attention_ref(&q[10..], &k[..kv], &v[..kv], 3, 4, 2, 64, 50, 0.125, true, 0).unwrap();
    assert_eq!(got[..6], [0.0; 6]);
    assert_close(&got[6..], &want, "offsets");
}

#[test]
fn bad_arguments_are_invalid() {
    let gpu = gpu();
    let s = shape(1, 9, 3, 64, 10, true, 0);
    let q = vec![0.0; s.q_len()];
    let kv = vec![0.0; s.kv_len() * s.kv_width()];
    let err = pollster::block_on(attention(gpu, &q, &kv, &kv[1..], &s, 1.0, PlanChoice::default())).unwrap_err();
    assert_eq!(err.code(), "invalid-argument");
    let err = pollster::block_on(attention(gpu, &q[1..], &kv, &kv, &s, 1.0, PlanChoice::default())).unwrap_err();
    assert_eq!(err.code(), "invalid-argument");
    assert!(AttentionShape::new(1, 9, 2, 64, 0, 1.0, true, 0).is_err());
    assert!(AttentionShape::new(1, 0, 1, 64, 0, 1.0, true, 0).is_err());
    assert!(AttentionShape::new(1, 1, 1, 0, 0, 1.0, true, 0).is_err());
    assert!(AttentionShape::new(0, 1, 1, 64, 0, 1.0, true, 0).is_err());

    let q_buf = gpu.storage("q", (q.len() * 4) as u64).unwrap();
    let kv_buf = gpu.storage("kv", (kv.len() * 4) as u64).unwrap();
    let short = gpu.storage("short", 64).unwrap();
    let op = |q: &wgpu::Buffer, k: &wgpu::Buffer, out: &wgpu::Buffer, n_kv_heads: u32| {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        Attention {
            q,
            q_offset: 0,
            k_cache: k,
            v_cache: &kv_buf,
            cache: Default::default(),
            recent: None,
            out,
            out_offset: 0,
            n_tokens: 1,
            n_heads: 9,
            n_kv_heads,
            head_dim: 64,
            start_pos: 10,
            scale: 1.0,
            causal: true,
            window: 0,
        }
        .encode(gpu, &mut encoder)
    };
    let out = gpu.storage("out", (q.len() * 4) as u64).unwrap();
    assert_eq!(op(&q_buf, &kv_buf, &out, 2).unwrap_err().code(), "invalid-argument"); // 9 heads on 2
    assert_eq!(op(&q_buf, &kv_buf, &q_buf, 3).unwrap_err().code(), "invalid-argument"); // out aliases q
    assert_eq!(op(&q_buf, &short, &out, 3).unwrap_err().code(), "invalid-argument"); // cache too short
    assert_eq!(op(&short, &kv_buf, &out, 3).unwrap_err().code(), "invalid-argument"); // q too short
    assert!(op(&q_buf, &kv_buf, &out, 3).is_ok());
    gpu.check_health().unwrap();
}

/// Not a check: how long one decode step's attention takes on this adapter
/// (`cargo test -p navaja-gpu --test attention_gpu -- --ignored --nocapture timing`).
#[test]
#[ignore = "a benchmark"]
fn timing_decode_at_2000_keys() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(6);
    let (n_heads, n_kv_heads, head_dim, start_pos) = (9u32, 3u32, 64u32, 1999u32);
    let kv_len = (start_pos + 1) as usize;
    let q = gpu.upload_f32("q", &random_vec(&mut rng, (n_heads * head_dim) as usize, 1.0)).unwrap();
    let k = gpu.upload_f32("k", &random_vec(&mut rng, kv_len * (n_kv_heads * head_dim) as usize, 1.0)).unwrap();
    let v = gpu.upload_f32("v", &random_vec(&mut rng, kv_len * (n_kv_heads * head_dim) as usize, 1.0)).unwrap();
    let out = gpu.output_f32("out", (n_heads * head_dim) as usize).unwrap();
    let op = Attention {
        q: &q,
        q_offset: 0,
        k_cache: &k,
        v_cache: &v,
        cache: Default::default(),
        recent: None,
        out: &out,
        out_offset: 0,
        n_tokens: 1,
        n_heads,
        n_kv_heads,
        head_dim,
        start_pos,
        scale: 0.125,
        causal: true,
        window: 0,
    };
    for kernel in AttentionKernel::ALL {
        let plan = op.plan_for(gpu, kernel).unwrap();
        let run = |iterations: u32| {
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            for _ in 0..iterations {
                op.encode_with(gpu, &mut encoder, &plan).unwrap();
            }
            gpu.queue.submit([encoder.finish()]);
            gpu.wait_idle().unwrap();
        };
        run(2); // compile and warm up
        let iterations = 20;
        let start = Instant::now();
        run(iterations);
        let per_call = start.elapsed() / iterations;
        eprintln!(
            "attention decode, 2000 keys, 9 heads / 3 kv heads, head_dim 64 ({plan:?}): {per_call:?} per call on {}",
            gpu.adapter.name
        );
    }
}
