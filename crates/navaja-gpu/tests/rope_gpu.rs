//! RoPE on a real wgpu adapter (lavapipe on CI) against the f64 CPU reference.
//! No adapter is a failure, never a skip.

use navaja_core::model::RopeOrdering;
use navaja_core::ops::rope::rope_ref;
use navaja_gpu::GpuDevice;
use navaja_gpu::ops::rope::{Rope, rope};
use rand::{RngExt, SeedableRng, rngs::StdRng};

mod common;
use common::gpu;

fn random_vec(rng: &mut StdRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-scale..scale)).collect()
}

/// Rotations keep magnitudes, so the error is relative to the head's scale.
fn assert_close(got: &[f32], want: &[f32], scale: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        worst = worst.max(err / scale);
        assert!(err <= 3e-6 * scale, "{what}: element {i}: gpu {g} vs cpu {w}");
    }
    eprintln!("{what}: max error {worst:e} of the scale");
}

#[test]
fn matches_cpu_reference_at_large_positions() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(0x707e);
    // (n_tokens, n_heads, head_dim, rot_dims, start_pos, base, freq_scale, factors)
    let cases = [
        (1, 9, 64, 64, 0, 10000.0, 1.0, false),
        (3, 9, 64, 64, 100, 10000.0, 1.0, true),
        (17, 3, 40, 40, 99_990, 1_000_000.0, 1.0, false),
        (70, 4, 256, 256, 30_000, 500_000.0, 0.25, true),
        (5, 2, 128, 64, 123_456, 10000.0, 1.0, false),
        (2, 1, 64, 32, (1 << 24) - 2, 10000.0, 0.5, true),
    ];
    for (n_tokens, n_heads, head_dim, rot_dims, start_pos, base, scale, with_factors) in cases {
        let factors: Option<Vec<f32>> =
            with_factors.then(|| (0..rot_dims / 2).map(|_| rng.random_range(1.0f32..8.0)).collect());
        for ordering in [RopeOrdering::Normal, RopeOrdering::Neox] {
            let x = random_vec(&mut rng, n_tokens * n_heads * head_dim, 2.0);
            let got = pollster::block_on(rope(
                gpu,
                &x,
                n_tokens as u32,
                n_heads as u32,
                head_dim as u32,
                rot_dims as u32,
                start_pos as u32,
                ordering,
                base,
                scale,
                factors.as_deref(),
            ))
            .unwrap();
            let mut want = x.clone();
            rope_ref(
                &mut want,
                n_tokens,
                n_heads,
                head_dim,
                rot_dims,
                start_pos,
                ordering,
                base,
                scale,
                factors.as_deref(),
            )
            .unwrap();
            let what = format!("{ordering:?} {n_tokens}x{n_heads}x{head_dim} rot {rot_dims} at {start_pos}");
            assert_close(&got, &want, 2.0, &what);
            // Dims past rot_dims are untouched.
            for (g, x) in got.chunks(head_dim).zip(x.chunks(head_dim)) {
                assert_eq!(g[rot_dims..], x[rot_dims..], "{what}: unrotated tail");
            }
        }
    }
}

#[test]
fn rotates_only_the_span_at_the_offset() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(9);
    let (n_tokens, n_heads, head_dim) = (3, 2, 8);
    let len = n_tokens * n_heads * head_dim;
    let data = random_vec(&mut rng, len + 20, 1.0);
    let offset = 7;
    let buf = storage_with(gpu, &data);
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    Rope {
        x: &buf,
        x_offset: offset as u32,
        n_tokens: n_tokens as u32,
        n_heads: n_heads as u32,
        head_dim: head_dim as u32,
        rot_dims: head_dim as u32,
        start_pos: 500,
        ordering: RopeOrdering::Neox,
        freq_base: 10000.0,
        freq_scale: 1.0,
        freq_factors: None,
    }
    .encode(gpu, &mut encoder)
    .unwrap();
    gpu.queue.submit([encoder.finish()]);
    let got = pollster::block_on(gpu.read_f32(&buf, data.len())).unwrap();
    let mut want = data.clone();
    rope_ref(
        &mut want[offset..offset + len],
        n_tokens,
        n_heads,
        head_dim,
        head_dim,
        500,
        RopeOrdering::Neox,
        10000.0,
        1.0,
        None,
    )
    .unwrap();
    assert_eq!(got[..offset], data[..offset]);
    assert_eq!(got[offset + len..], data[offset + len..]);
    assert_close(&got, &want, 1.0, "offset");
}

/// A readable, writable storage buffer holding `data`.
fn storage_with(gpu: &GpuDevice, data: &[f32]) -> wgpu::Buffer {
    let buf = gpu.storage("test x", (data.len() * 4) as u64).unwrap();
    gpu.queue.write_buffer(&buf, 0, bytemuck::cast_slice(data));
    buf
}

#[test]
fn bad_arguments_are_invalid() {
    let gpu = gpu();
    let x = vec![0.0f32; 64];
    let call = |n_tokens, head_dim, rot_dims, start_pos, factors: Option<&[f32]>| {
        pollster::block_on(rope(
            gpu,
            &x,
            n_tokens,
            1,
            head_dim,
            rot_dims,
            start_pos,
            RopeOrdering::Normal,
            10000.0,
            1.0,
            factors,
        ))
    };
    for err in [
        call(1, 64, 0, 0, None),
        call(1, 64, 63, 0, None),
        call(1, 64, 66, 0, None),
        call(2, 64, 64, 0, None),
        call(0, 64, 64, 0, None),
        call(1, 64, 64, 1 << 24, None),
        call(1, 64, 64, 0, Some(&[1.0; 31])),
    ] {
        assert_eq!(err.unwrap_err().code(), "invalid-argument");
    }
    // A buffer too short for the shape.
    let buf = storage_with(gpu, &x);
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    let op = Rope {
        x: &buf,
        x_offset: 1,
        n_tokens: 1,
        n_heads: 1,
        head_dim: 64,
        rot_dims: 64,
        start_pos: 0,
        ordering: RopeOrdering::Normal,
        freq_base: 10000.0,
        freq_scale: 1.0,
        freq_factors: None,
    };
    assert_eq!(op.encode(gpu, &mut encoder).unwrap_err().code(), "invalid-argument");
    assert!(call(1, 64, 64, 0, None).is_ok());
    gpu.check_health().unwrap();
}
