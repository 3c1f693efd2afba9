//! The encoder ops on a real wgpu adapter (lavapipe on CI) against their f64
//! CPU references on random data: LayerNorm, the in-place activations,
//! pooling with normalisation, and packed-sequence attention (with and
//! without ALiBi), at sizes that are not multiples of the workgroup or tile.
//! No adapter is a failure, never a skip.

use navaja_core::model::{Activation, Pooling};
use navaja_core::ops::activation::{Unary, unary_ref};
use navaja_core::ops::encoder_attention::{alibi_slopes, encoder_attention_ref};
use navaja_core::ops::layer_norm::layer_norm as layer_norm_ref;
use navaja_core::ops::pooling::pool_ref;
use navaja_gpu::ops::activation::activate;
use navaja_gpu::ops::encoder_attention::encoder_attention;
use navaja_gpu::ops::layer_norm::{LayerNorm, layer_norm};
use navaja_gpu::ops::pooling::pool;
use rand::{RngExt, SeedableRng, rngs::StdRng};

mod common;
use common::gpu;

fn random_vec(rng: &mut StdRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-scale..scale)).collect()
}

fn assert_close(got: &[f32], want: &[f32], abs: f32, rel: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        worst = worst.max(err);
        assert!(err <= abs + rel * w.abs(), "{what}: [{i}] gpu {g} vs cpu {w}");
    }
    eprintln!("{what}: max abs error {worst:e}");
}

#[test]
fn layer_norm_matches_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(21);
    for (rows, cols, offset) in [(1, 1, 0.0), (3, 7, 0.0), (5, 384, 3.0), (2, 1000, -50.0), (70_000, 3, 0.5)] {
        let x: Vec<f32> = random_vec(&mut rng, rows * cols, 4.0).iter().map(|v| v + offset).collect();
        let w = random_vec(&mut rng, cols, 2.0);
        let b = random_vec(&mut rng, cols, 1.0);
        let got = pollster::block_on(layer_norm(gpu, &x, &w, &b, 1e-12)).unwrap();
        let want = layer_norm_ref(&x, &w, &b, 1e-12).unwrap();
        assert_close(&got, &want, 2e-5, 2e-5, &format!("layer_norm {rows}x{cols} offset {offset}"));
    }
}

#[test]
fn layer_norm_rejects_bad_arguments() {
    let gpu = gpu();
    let code = |r: navaja_core::Result<Vec<f32>>| r.unwrap_err().code();
    assert_eq!(code(pollster::block_on(layer_norm(gpu, &[1.0; 5], &[1.0; 2], &[0.0; 2], 1e-5))), "invalid-argument");
    assert_eq!(code(pollster::block_on(layer_norm(gpu, &[1.0; 4], &[1.0; 2], &[0.0; 1], 1e-5))), "invalid-argument");
    let a = gpu.storage("a", 16).unwrap();
    let w = gpu.storage("w", 8).unwrap();
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    for (x, y, rows, cols) in [(&a, &a, 1, 2), (&a, &w, 2, 2), (&w, &a, 1, 0)] {
        let op = LayerNorm { x, weight: &w, bias: &w, y, rows, cols, eps: 1e-5 };
        assert_eq!(op.encode(gpu, &mut encoder).unwrap_err().code(), "invalid-argument");
    }
    gpu.check_health().unwrap();
}

#[test]
fn activations_match_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(22);
    let fs = [
        Unary::Activation(Activation::Gelu),
        Unary::Activation(Activation::GeluTanh),
        Unary::Activation(Activation::Silu),
        Unary::Tanh,
    ];
    for len in [1usize, 255, 257, 100_003] {
        let mut x = random_vec(&mut rng, len, 8.0);
        x.extend([-1e30, -90.0, -1e-7, 0.0, 1e-7, 90.0, 1e30]);
        for f in fs {
            let got = pollster::block_on(activate(gpu, &x, f)).unwrap();
            let mut want = x.clone();
            unary_ref(&mut want, f).unwrap();
            assert!(got.iter().all(|v| v.is_finite()), "{f:?}: not finite");
            assert_close(&got, &want, 2e-7, 4e-6, &format!("{f:?} len {len}"));
        }
    }
    assert_eq!(pollster::block_on(activate(gpu, &[], Unary::Tanh)).unwrap_err().code(), "invalid-argument");
}

#[test]
fn pooling_matches_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(23);
    for (hidden, lens) in [(1, vec![1]), (37, vec![3, 1, 8]), (384, vec![20, 7, 2, 64, 1]), (300, vec![129; 3])] {
        let rows: usize = lens.iter().sum();
        let x = random_vec(&mut rng, rows * hidden, 3.0);
        for pooling in [Pooling::Mean, Pooling::Cls, Pooling::Last] {
            for normalize in [false, true] {
                let got = pollster::block_on(pool(gpu, &x, hidden, &lens, pooling, normalize)).unwrap();
                let want = pool_ref(&x, hidden, &lens, pooling, normalize).unwrap();
                assert_close(&got, &want, 2e-6, 2e-6, &format!("{pooling:?} normalize {normalize} {lens:?}x{hidden}"));
            }
        }
    }
    // A zero vector normalises to zero, not NaN.
    let zero = pollster::block_on(pool(gpu, &[0.0; 6], 3, &[2], Pooling::Mean, true)).unwrap();
    assert_eq!(zero, vec![0.0; 3]);
    let bad = pollster::block_on(pool(gpu, &[0.0; 6], 3, &[1, 2], Pooling::Mean, true));
    assert_eq!(bad.unwrap_err().code(), "invalid-argument");
    let none = pollster::block_on(pool(gpu, &[0.0; 6], 3, &[2], Pooling::None, true));
    assert_eq!(none.unwrap_err().code(), "invalid-argument");
}

fn check_attention(rng: &mut StdRng, lens: &[usize], n_heads: usize, head_dim: usize, alibi: bool, tile: Option<u32>) {
    let gpu = gpu();
    let rows: usize = lens.iter().sum();
    let width = n_heads * head_dim;
    let q = random_vec(rng, rows * width, 2.0);
    let k = random_vec(rng, rows * width, 2.0);
    let v = random_vec(rng, rows * width, 1.0);
    let scale = 1.0 / (head_dim as f32).sqrt();
    let slopes = alibi.then(|| alibi_slopes(n_heads, 8.0));
    let got =
        pollster::block_on(encoder_attention(gpu, &q, &k, &v, lens, n_heads, head_dim, scale, slopes.as_deref(), tile))
            .unwrap();
    let want = encoder_attention_ref(&q, &k, &v, lens, n_heads, head_dim, scale, slopes.as_deref()).unwrap();
    assert_close(
        &got,
        &want,
        3e-6,
        1e-5,
        &format!("attention {lens:?} {n_heads}x{head_dim} alibi {alibi} tile {tile:?}"),
    );
}

#[test]
fn encoder_attention_matches_cpu_reference() {
    let mut rng = StdRng::seed_from_u64(24);
    // MiniLM's heads (12 x 32) over sentences of mixed lengths, one of them longer than a key tile.
    check_attention(&mut rng, &[8, 20, 3, 2, 77], 12, 32, false, None);
    // Head sizes 4, 12 (not a multiple of 8), 64 and 128; sequences of one token; a 300-token text.
    check_attention(&mut rng, &[1, 5, 1], 2, 4, false, None);
    check_attention(&mut rng, &[17, 33], 3, 12, false, None);
    check_attention(&mut rng, &[300, 2], 2, 64, false, None);
    check_attention(&mut rng, &[40, 9], 1, 128, false, None);
    // Tiles of 16 rows forced on long sequences: several tiles per sequence.
    check_attention(&mut rng, &[70, 16, 15], 4, 16, false, Some(16));
}

#[test]
fn encoder_attention_with_alibi_matches_cpu_reference() {
    let mut rng = StdRng::seed_from_u64(25);
    check_attention(&mut rng, &[12, 50, 1], 8, 16, true, None);
    check_attention(&mut rng, &[90], 12, 32, true, Some(32));
}

#[test]
fn encoder_attention_rejects_bad_calls() {
    let gpu = gpu();
    let run = |q: &[f32], lens: &[usize], heads, dim, slopes: Option<&[f32]>| {
        pollster::block_on(encoder_attention(gpu, q, q, q, lens, heads, dim, 1.0, slopes, None)).unwrap_err().code()
    };
    assert_eq!(run(&[0.0; 16], &[1, 2], 2, 4, None), "invalid-argument");
    assert_eq!(run(&[0.0; 16], &[2, 0], 2, 4, None), "invalid-argument");
    assert_eq!(run(&[0.0; 16], &[2], 2, 4, Some(&[1.0])), "invalid-argument");
    assert_eq!(run(&[0.0; 12], &[2], 2, 3, None), "unsupported-model");
    gpu.check_health().unwrap();
}
