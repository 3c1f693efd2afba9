//! RMSNorm on a real wgpu adapter (lavapipe on CI) against the CPU reference.
//!
//! No adapter is a failure, never a skip: a machine that cannot run these
//! tests must say so loudly.

use navaja_core::ops::rms_norm as cpu_rms_norm;
use navaja_gpu::ops::rms_norm::rms_norm;
use navaja_gpu::{DeviceOptions, GpuDevice};
use rand::{RngExt, SeedableRng, rngs::StdRng};

mod common;
use common::gpu;

fn random_vec(rng: &mut StdRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-scale..scale)).collect()
}

/// Max error relative to the magnitude of each reference value.
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 2e-6 + 1e-5 * w.abs();
        assert!((g - w).abs() <= tol, "{what}: element {i}: gpu {g} vs cpu {w} (tolerance {tol})");
    }
}

#[test]
fn opens_the_expected_adapter() {
    let gpu = gpu();
    eprintln!("adapter: {} ({}, {})", gpu.adapter.name, gpu.adapter.backend, gpu.adapter.device_type);
    if let Ok(expected) = std::env::var("NAVAJA_EXPECT_ADAPTER") {
        assert!(
            gpu.adapter.name.to_lowercase().contains(&expected.to_lowercase()),
            "expected adapter {expected:?}, got {:?}",
            gpu.adapter.name
        );
    }
    assert!(gpu.limits.max_storage_buffer_binding_size >= 128 << 20);
    assert!(gpu.limits.max_compute_invocations_per_workgroup >= 256);
    // Optional features are enabled exactly when the adapter has them.
    assert_eq!(gpu.shader_f16, gpu.adapter.shader_f16);
    assert_eq!(gpu.subgroups, gpu.adapter.subgroups);
}

#[test]
fn matches_cpu_reference_on_random_data() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    // Widths around the workgroup size, model widths (576 SmolLM2, 640
    // Gemma 3 270M, 2048 Llama 3.2 1B) and degenerate single columns.
    let shapes = [(1, 1), (3, 7), (2, 255), (2, 256), (2, 257), (4, 576), (3, 640), (2, 2048), (33, 100), (1, 5000)];
    for (i, &(rows, cols)) in shapes.iter().enumerate() {
        let scale = [0.01, 1.0, 300.0][i % 3];
        let x = random_vec(&mut rng, rows * cols, scale);
        let w = random_vec(&mut rng, cols, 2.0);
        let eps = [1e-5, 1e-6][i % 2];
        let got = pollster::block_on(rms_norm(gpu, &x, &w, eps)).unwrap();
        let want = cpu_rms_norm(&x, &w, eps).unwrap();
        assert_close(&got, &want, &format!("{rows}x{cols}"));
    }
}

#[test]
fn rows_beyond_one_dispatch_dimension() {
    let gpu = gpu();
    let rows = gpu.limits.max_compute_workgroups_per_dimension as usize + 100;
    let cols = 3;
    let mut rng = StdRng::seed_from_u64(2);
    let x = random_vec(&mut rng, rows * cols, 1.0);
    let w = random_vec(&mut rng, cols, 1.0);
    let got = pollster::block_on(rms_norm(gpu, &x, &w, 1e-6)).unwrap();
    assert_close(&got, &cpu_rms_norm(&x, &w, 1e-6).unwrap(), "many rows");
}

#[test]
fn bad_input_is_a_typed_error_and_the_device_stays_usable() {
    let gpu = gpu();
    let err = pollster::block_on(rms_norm(gpu, &[1.0; 5], &[1.0; 2], 1e-6)).unwrap_err();
    assert_eq!(err.code(), "invalid-argument", "{err}");
    let err = pollster::block_on(rms_norm(gpu, &[], &[1.0; 2], 1e-6)).unwrap_err();
    assert_eq!(err.code(), "invalid-argument", "{err}");

    // A tensor larger than one storage binding is refused before any upload.
    let cols = 1024;
    let rows = (gpu.limits.max_storage_buffer_binding_size as usize) / (cols * 4) + 1;
    let huge = vec![0.5f32; rows * cols];
    let err = pollster::block_on(rms_norm(gpu, &huge, &vec![1.0; cols], 1e-6)).unwrap_err();
    assert_eq!(err.code(), "adapter-limit", "{err}");
    drop(huge);

    let y = pollster::block_on(rms_norm(gpu, &[3.0, 4.0], &[1.0, 1.0], 0.0)).unwrap();
    assert_close(&y, &cpu_rms_norm(&[3.0, 4.0], &[1.0, 1.0], 0.0).unwrap(), "after errors");
    gpu.check_health().unwrap();
}

#[test]
fn pipelines_are_compiled_once() {
    let gpu = pollster::block_on(GpuDevice::new(&DeviceOptions::from_env())).unwrap();
    for _ in 0..3 {
        pollster::block_on(rms_norm(&gpu, &[1.0, 2.0, 3.0, 4.0], &[1.0, 1.0], 1e-6)).unwrap();
    }
    assert_eq!(gpu.kernels.compiled_count(), 1);
}
