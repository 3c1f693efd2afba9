//! Embedding gather on a real wgpu adapter (lavapipe on CI) against the CPU
//! reference, for every table type the GPU reads.
//!
//! No adapter is a failure, never a skip.

use navaja_core::ops::embedding::embedding_ref;
use navaja_core::quant::GgmlType;
use navaja_core::quant::gpu_layout::{GPU_WEIGHT_TYPES, ggml_f16_field_offsets};
use navaja_gpu::ops::embedding::{EmbeddingGather, embedding};
use navaja_gpu::weights::WeightLayout;
use rand::{Rng, RngExt, SeedableRng, rngs::StdRng};
use wgpu::util::DeviceExt;

mod common;
use common::gpu;

/// f16 bits of a random finite value with |v| in [2^(e_lo - 15), 2^(e_hi - 14)).
fn random_f16(rng: &mut StdRng, e_lo: u16, e_hi: u16) -> [u8; 2] {
    let sign = u16::from(rng.random::<bool>()) << 15;
    let bits = sign | (rng.random_range(e_lo..=e_hi) << 10) | rng.random_range(0..1024u16);
    bits.to_le_bytes()
}

/// A random table in ggml's layout: random quants with sane f16 scales.
fn random_table(rng: &mut StdRng, ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    match ty {
        GgmlType::F32 => (0..rows * cols).flat_map(|_| rng.random_range(-1.0f32..1.0).to_le_bytes()).collect(),
        GgmlType::F16 => (0..rows * cols).flat_map(|_| random_f16(rng, 8, 15)).collect(),
        _ => {
            let mut bytes = vec![0u8; ty.bytes_for((rows * cols) as u64).unwrap() as usize];
            rng.fill_bytes(&mut bytes);
            for block in bytes.chunks_exact_mut(ty.block_bytes()) {
                for &at in ggml_f16_field_offsets(ty) {
                    block[at..at + 2].copy_from_slice(&random_f16(rng, 8, 11));
                }
            }
            bytes
        }
    }
}

/// Each value is one dequantized weight times the scale: the GPU may only
/// differ by the rounding of `q * d + m` and of the scale multiply.
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-6 * w.abs() + 1e-7;
        assert!((g - w).abs() <= tol, "{what}: value {i}: gpu {g} vs cpu {w}");
    }
}

fn cols_for(ty: GgmlType, case: usize) -> usize {
    match ty {
        GgmlType::F32 | GgmlType::F16 => [5, 64, 37, 576][case % 4],
        _ => ty.block_len() * (1 + case % 3),
    }
}

#[test]
fn every_type_matches_the_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(0xe4b);
    // Every type in the block layout, and Q4_1 and Q8_0 in the split layout
    // too (CPU adapters' default for them), whatever the adapter is.
    let kinds = GPU_WEIGHT_TYPES
        .iter()
        .map(|&ty| (ty, WeightLayout::Blocks))
        .chain([(GgmlType::Q4_1, WeightLayout::Split), (GgmlType::Q8_0, WeightLayout::Split)]);
    for (ty, layout) in kinds {
        for case in 0..3 {
            let (rows, cols) = (50 + 13 * case, cols_for(ty, case));
            let table = random_table(&mut rng, ty, rows, cols);
            let weight = gpu.upload_weight_in(layout, "embd", ty, rows, cols, &table, u64::MAX).unwrap();
            let mut ids: Vec<u32> = (0..7 + 5 * case).map(|_| rng.random_range(0..rows as u32)).collect();
            ids.extend([0, rows as u32 - 1]);
            let scale = [1.0, 24.0, 0.125][case];
            let got = pollster::block_on(embedding(gpu, &weight, &ids, scale)).unwrap();
            let want = embedding_ref(ty, &table, rows, cols, &ids, scale).unwrap();
            assert_close(&got, &want, &format!("{ty} {layout:?} {rows}x{cols}"));
        }
    }
}

#[test]
fn split_tables_give_the_same_rows() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(4);
    let tables =
        [(GgmlType::Q4_K, 40, 512), (GgmlType::Q8_0, 33, 64), (GgmlType::Q4_1, 25, 96), (GgmlType::F16, 20, 7)];
    for (ty, rows, cols) in tables {
        let table = random_table(&mut rng, ty, rows, cols);
        let row_bytes = gpu.upload_weight("probe", ty, 1, cols, &table[..table.len() / rows]).unwrap().gpu_bytes();
        let weight = gpu.upload_weight_split("embd", ty, rows, cols, &table, 6 * row_bytes).unwrap();
        assert_eq!(weight.parts.len(), rows.div_ceil(6), "{ty}");
        let ids: Vec<u32> = (0..rows as u32).rev().chain([5, 6, 0, rows as u32 - 1]).collect();
        let got = pollster::block_on(embedding(gpu, &weight, &ids, 2.0)).unwrap();
        let want = embedding_ref(ty, &table, rows, cols, &ids, 2.0).unwrap();
        assert_close(&got, &want, &format!("split {ty}"));
    }
}

#[test]
fn more_tokens_than_one_dispatch_dimension() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(9);
    let (ty, rows, cols) = (GgmlType::Q4_0, 100, 32);
    let table = random_table(&mut rng, ty, rows, cols);
    let weight = gpu.upload_weight("embd", ty, rows, cols, &table).unwrap();
    let n = gpu.limits.max_compute_workgroups_per_dimension as usize + 77;
    let ids: Vec<u32> = (0..n).map(|_| rng.random_range(0..rows as u32)).collect();
    let got = pollster::block_on(embedding(gpu, &weight, &ids, 1.0)).unwrap();
    let want = embedding_ref(ty, &table, rows, cols, &ids, 1.0).unwrap();
    assert_close(&got, &want, "many tokens");
}

#[test]
fn ids_past_the_table_are_refused_on_the_host_and_clamped_on_the_gpu() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(10);
    let (ty, rows, cols) = (GgmlType::Q6_K, 9, 256);
    let table = random_table(&mut rng, ty, rows, cols);
    let weight = gpu.upload_weight("embd", ty, rows, cols, &table).unwrap();
    let err = pollster::block_on(embedding(gpu, &weight, &[1, 9], 1.0)).unwrap_err();
    assert_eq!(err.code(), "invalid-argument", "{err}");
    assert!(pollster::block_on(embedding(gpu, &weight, &[], 1.0)).unwrap().is_empty());

    // Straight to the kernel, past the host check: id 1000 reads the last row,
    // and ids are read at an offset, into y at an offset.
    let ids = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("ids"),
        contents: bytemuck::cast_slice(&[7u32, 7, 2, 1000, u32::MAX]),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let y = gpu.output_f32("y", 3 + 3 * cols).unwrap();
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    EmbeddingGather { table: &weight, ids: &ids, ids_offset: 2, n: 3, y: &y, y_offset: 3, scale: 1.0 }
        .encode(gpu, &mut encoder)
        .unwrap();
    gpu.queue.submit([encoder.finish()]);
    let got = pollster::block_on(gpu.read_f32(&y, 3 + 3 * cols)).unwrap();
    let want = embedding_ref(ty, &table, rows, cols, &[2, 8, 8], 1.0).unwrap();
    assert_close(&got[3..], &want, "clamped ids");
    gpu.check_health().unwrap();

    // Buffers too small for the announced gather are refused.
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    for (ids_offset, n, y_offset) in [(3, 3, 0), (0, 4, 0), (0, 3, 4), (0, 0, 0)] {
        let op = EmbeddingGather { table: &weight, ids: &ids, ids_offset, n, y: &y, y_offset, scale: 1.0 };
        let err = op.encode(gpu, &mut encoder).unwrap_err();
        assert_eq!(err.code(), "invalid-argument", "{err}");
    }
}
