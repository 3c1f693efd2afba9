//! GLU activations and the residual add on a real wgpu adapter (lavapipe on
//! CI) against the CPU reference. No adapter is a failure, never a skip.

use navaja_core::model::Activation;
use navaja_core::ops::glu::glu_ref;
use navaja_gpu::ops::add::{Add, add};
use navaja_gpu::ops::glu::{Glu, glu};
use rand::{RngExt, SeedableRng, rngs::StdRng};

mod common;
use common::gpu;

fn random_vec(rng: &mut StdRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-scale..scale)).collect()
}

const ACTIVATIONS: [Activation; 3] = [Activation::Silu, Activation::GeluTanh, Activation::Gelu];

#[test]
fn glu_matches_cpu_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(11);
    for (i, len) in [1usize, 7, 255, 256, 257, 1536, 100_003].into_iter().enumerate() {
        let scale = [1.0, 6.0, 30.0][i % 3];
        let gate = random_vec(&mut rng, len, scale);
        let up = random_vec(&mut rng, len, 2.0);
        for act in ACTIVATIONS {
            let got = pollster::block_on(glu(gpu, &gate, &up, act)).unwrap();
            let mut want = gate.clone();
            glu_ref(&mut want, &up, act).unwrap();
            let mut worst = 0f32;
            for (j, ((g, w), u)) in got.iter().zip(&want).zip(&up).enumerate() {
                // Relative to the activation's size, plus a little for outputs that cancel to ~0.
                let err = (g - w).abs();
                let tol = 4e-6 * w.abs() + 1e-7 * u.abs();
                worst = worst.max(err / w.abs().max(1e-30));
                assert!(err <= tol, "{act:?} len {len} [{j}]: gate {} up {u}: gpu {g} vs cpu {w}", gate[j]);
            }
            eprintln!("{act:?} len {len} scale {scale}: max relative error {worst:e}");
        }
    }
}

#[test]
fn glu_is_finite_for_extreme_inputs() {
    let gpu = gpu();
    let gate = [-1e30, -1e4, -88.0, -20.0, -10.0, -5.0, -1e-6, 0.0, 1e-6, 5.0, 20.0, 88.0, 1e4, 1e30];
    let up = vec![1.5f32; gate.len()];
    for act in ACTIVATIONS {
        let got = pollster::block_on(glu(gpu, &gate, &up, act)).unwrap();
        let mut want = gate.to_vec();
        glu_ref(&mut want, &up, act).unwrap();
        for ((g, w), x) in got.iter().zip(&want).zip(gate) {
            assert!(g.is_finite(), "{act:?}({x}) = {g}");
            assert!((g - w).abs() <= 4e-6 * w.abs() + 1e-30, "{act:?}({x}): gpu {g} vs cpu {w}");
        }
    }
}

#[test]
fn add_matches_host_sum() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(12);
    for len in [1usize, 255, 257, 4099, 300_001] {
        let x = random_vec(&mut rng, len, 100.0);
        let y = random_vec(&mut rng, len, 100.0);
        let got = pollster::block_on(add(gpu, &x, &y)).unwrap();
        let want: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a + b).collect();
        assert_eq!(got, want, "len {len}");
    }
}

#[test]
fn add_respects_offsets() {
    let gpu = gpu();
    let x: Vec<f32> = (0..20).map(|i| i as f32).collect();
    let y: Vec<f32> = (0..20).map(|i| 100.0 * i as f32).collect();
    let x_buf = gpu.storage("x", 80).unwrap();
    gpu.queue.write_buffer(&x_buf, 0, bytemuck::cast_slice(&x));
    let y_buf = gpu.upload_f32("y", &y).unwrap();
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    Add { x: &x_buf, x_offset: 3, y: &y_buf, y_offset: 10, len: 5 }.encode(gpu, &mut encoder).unwrap();
    gpu.queue.submit([encoder.finish()]);
    let got = pollster::block_on(gpu.read_f32(&x_buf, 20)).unwrap();
    let mut want = x.clone();
    for i in 0..5 {
        want[3 + i] += y[10 + i];
    }
    assert_eq!(got, want);
}

#[test]
fn bad_arguments_are_invalid() {
    let gpu = gpu();
    assert_eq!(pollster::block_on(glu(gpu, &[], &[], Activation::Silu)).unwrap_err().code(), "invalid-argument");
    assert_eq!(
        pollster::block_on(glu(gpu, &[1.0], &[1.0, 2.0], Activation::Gelu)).unwrap_err().code(),
        "invalid-argument"
    );
    assert_eq!(pollster::block_on(add(gpu, &[1.0], &[1.0, 2.0])).unwrap_err().code(), "invalid-argument");
    assert_eq!(pollster::block_on(add(gpu, &[], &[])).unwrap_err().code(), "invalid-argument");

    let a = gpu.storage("a", 16).unwrap();
    let b = gpu.storage("b", 16).unwrap();
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    let bad_add = [
        Add { x: &a, x_offset: 0, y: &b, y_offset: 0, len: 0 },
        Add { x: &a, x_offset: 1, y: &b, y_offset: 0, len: 4 },
        Add { x: &a, x_offset: 0, y: &b, y_offset: 0, len: 5 },
        Add { x: &a, x_offset: 0, y: &a, y_offset: 0, len: 2 },
    ];
    for op in bad_add {
        assert_eq!(op.encode(gpu, &mut encoder).unwrap_err().code(), "invalid-argument");
    }
    let bad_glu = [
        Glu { gate: &a, up: &b, len: 0, activation: Activation::Silu },
        Glu { gate: &a, up: &b, len: 5, activation: Activation::Silu },
        Glu { gate: &a, up: &a, len: 4, activation: Activation::Silu },
    ];
    for op in bad_glu {
        assert_eq!(op.encode(gpu, &mut encoder).unwrap_err().code(), "invalid-argument");
    }
    gpu.check_health().unwrap();
}
