//! Quantized matmul and matvec on a real wgpu adapter (lavapipe on CI)
//! against the CPU reference, for every weight type the GPU reads.
//!
//! No adapter is a failure, never a skip.

use navaja_core::ops::matmul::matmul_ref;
use navaja_core::quant::GgmlType;
use navaja_core::quant::dequant::dequantize;
use navaja_core::quant::gpu_layout::{GPU_WEIGHT_TYPES, ggml_f16_field_offsets};
use navaja_gpu::GpuDevice;
use navaja_gpu::ops::bandwidth::{measure_read_bandwidth, time_matvec, time_matvec_with};
use navaja_gpu::ops::matmul::{Matmul, MatvecShape, PrefillShape, matmul};
use navaja_gpu::weights::{GpuWeight, WeightLayout};
use rand::{Rng, RngExt, SeedableRng, rngs::StdRng};

mod common;
use common::gpu;

/// f16 bits of a random finite value with |v| in [2^(e_lo - 15), 2^(e_hi - 14)).
fn random_f16(rng: &mut StdRng, e_lo: u16, e_hi: u16) -> [u8; 2] {
    let sign = u16::from(rng.random::<bool>()) << 15;
    let bits = sign | (rng.random_range(e_lo..=e_hi) << 10) | rng.random_range(0..1024u16);
    bits.to_le_bytes()
}

/// A random `rows` x `cols` matrix of `ty` in ggml's layout: random quants,
/// f16 scales with |d| about 0.01..0.2, plain values about 0.01..2.
fn random_weight(rng: &mut StdRng, ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
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

fn random_vec(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// Compares `got` with the reference: the error of each output may be a
/// small fraction of `sum_c |W[r, c] x[t, c]|` (plus |bias| and |y_init|),
/// the scale f32 rounding works at.
#[allow(clippy::too_many_arguments)]
fn assert_matches(
    what: &str,
    ty: GgmlType,
    w: &[u8],
    rows: usize,
    cols: usize,
    x: &[f32],
    n: usize,
    bias: Option<&[f32]>,
    y_init: Option<&[f32]>,
    got: &[f32],
) {
    let mut want = matmul_ref(ty, w, rows, cols, x, n).unwrap();
    let mut wf = vec![0.0f32; rows * cols];
    dequantize(ty, w, &mut wf).unwrap();
    let abs_x: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    let abs_w: Vec<f32> = wf.iter().map(|v| v.abs()).collect();
    let mut scale = matmul_ref(GgmlType::F32, bytemuck::cast_slice(&abs_w), rows, cols, &abs_x, n).unwrap();
    for t in 0..n {
        for r in 0..rows {
            let i = t * rows + r;
            if let Some(b) = bias {
                want[i] += b[r];
                scale[i] += b[r].abs();
            }
            if let Some(y0) = y_init {
                want[i] += y0[i];
                scale[i] += y0[i].abs();
            }
        }
    }
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, ((&g, &w), &s)) in got.iter().zip(&want).zip(&scale).enumerate() {
        let tol = 5e-7 * (cols as f32).sqrt() * s + 1e-6;
        assert!(
            (g - w).abs() <= tol,
            "{what}: token {} row {}: gpu {g} vs cpu {w} (tolerance {tol}, |W||x| = {s})",
            i / rows,
            i % rows
        );
    }
}

/// Column counts to test for `ty`: 1..5 blocks, and for plain types also
/// counts that are not multiples of 4 or 16.
fn col_choices(ty: GgmlType) -> Vec<usize> {
    match ty {
        GgmlType::F32 | GgmlType::F16 => vec![1, 7, 16, 36, 100, 260, 33],
        _ => (1..=5).map(|b| b * ty.block_len()).collect(),
    }
}

#[test]
fn every_type_matches_the_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(0x3a7);
    // (rows, n): rows around the tiles (64) and row groups; n = 1 is the
    // matvec, the others the tiled kernel with partial token tiles.
    let shapes = [(1, 1), (7, 2), (67, 5), (300, 1), (300, 17), (67, 70), (7, 1), (130, 70), (65, 1)];
    for &ty in GPU_WEIGHT_TYPES {
        let cols_list = col_choices(ty);
        for (case, &(rows, n)) in shapes.iter().enumerate() {
            let cols = cols_list[case % cols_list.len()];
            let w = random_weight(&mut rng, ty, rows, cols);
            let weight = gpu.upload_weight("w", ty, rows, cols, &w).unwrap();
            let x = random_vec(&mut rng, n * cols);
            let bias = (case % 3 == 1).then(|| random_vec(&mut rng, rows));
            let y_init = (case % 4 == 2).then(|| random_vec(&mut rng, n * rows));
            let got = pollster::block_on(matmul(gpu, &weight, &x, n, bias.as_deref(), y_init.as_deref())).unwrap();
            let what = format!("{ty} {rows}x{cols} n={n} bias={} acc={}", bias.is_some(), y_init.is_some());
            assert_matches(&what, ty, &w, rows, cols, &x, n, bias.as_deref(), y_init.as_deref(), &got);
        }
    }
}

#[test]
fn every_matvec_shape_matches_the_reference() {
    // The matvec kernel in every shape either adapter kind uses, including
    // partial row groups and rows that are not a multiple of anything.
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(11);
    let shapes = [
        MatvecShape { wg: 64, tpr: 1, r: 2, g: 16 },
        MatvecShape { wg: 64, tpr: 1, r: 8, g: 2 },
        MatvecShape { wg: 256, tpr: 32, r: 2, g: 1 },
        MatvecShape { wg: 256, tpr: 32, r: 2, g: 2 },
        MatvecShape { wg: 256, tpr: 2, r: 2, g: 2 },
        MatvecShape { wg: 16, tpr: 1, r: 4, g: 16 },
        MatvecShape { wg: 256, tpr: 4, r: 4, g: 4 },
        MatvecShape { wg: 128, tpr: 64, r: 1, g: 1 },
        MatvecShape { wg: 32, tpr: 1, r: 3, g: 1 },
    ];
    for &ty in GPU_WEIGHT_TYPES {
        let cols = if ty.block_len() == 1 { 84 } else { 3 * ty.block_len() };
        let rows = 75;
        let w = random_weight(&mut rng, ty, rows, cols);
        // The general kernels read the block layout only (CPU adapters put
        // Q4_1 and Q8_0 in the split layout by default).
        let weight = gpu.upload_weight_in(WeightLayout::Blocks, "w", ty, rows, cols, &w, u64::MAX).unwrap();
        let x = random_vec(&mut rng, cols);
        let bias = random_vec(&mut rng, rows);
        for shape in shapes {
            let got = run_matvec(gpu, &weight, &x, Some(&bias), shape);
            assert_matches(&format!("{ty} {shape:?}"), ty, &w, rows, cols, &x, 1, Some(&bias), None, &got);
        }
    }
}

#[test]
fn every_prefill_shape_matches_the_reference() {
    // Both matrix-matrix kernels in several shapes, with partial row groups
    // and token tiles, bias and accumulation, whatever the adapter is.
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(17);
    let shapes = [
        PrefillShape::Tiled,
        PrefillShape::Lanes { wg: 16, r: 4, t: 32 },
        PrefillShape::Lanes { wg: 16, r: 2, t: 8 },
        PrefillShape::Lanes { wg: 8, r: 4, t: 4 },
        PrefillShape::Lanes { wg: 4, r: 3, t: 5 },
        PrefillShape::Lanes { wg: 1, r: 1, t: 1 },
    ];
    for &ty in GPU_WEIGHT_TYPES {
        let cols = if ty.block_len() == 1 { 84 } else { 2 * ty.block_len() };
        let (rows, n) = (75, 13);
        let w = random_weight(&mut rng, ty, rows, cols);
        let weight = gpu.upload_weight_in(WeightLayout::Blocks, "w", ty, rows, cols, &w, u64::MAX).unwrap();
        let x = random_vec(&mut rng, n * cols);
        let bias = random_vec(&mut rng, rows);
        let y0 = random_vec(&mut rng, n * rows);
        for shape in shapes {
            let got = run_prefill(gpu, &weight, &x, n, Some(&bias), Some(&y0), shape);
            assert_matches(&format!("{ty} {shape:?}"), ty, &w, rows, cols, &x, n, Some(&bias), Some(&y0), &got);
        }
    }
}

/// One case of the block kernels' tests: a random `rows x cols` weight of
/// `ty` in `layout` (split into parts when `case` is 2), `n` tokens of x at an offset
/// inside a larger buffer, y likewise, a bias on odd cases and accumulation
/// on every third; `encode` records the kernel under test. Checks the
/// product against the CPU reference and that nothing outside y's window
/// was touched.
fn check_block_kernel(
    gpu: &GpuDevice,
    rng: &mut StdRng,
    (ty, layout): (GgmlType, WeightLayout),
    (rows, cols, n): (usize, usize, usize),
    case: usize,
    kernel: &str,
    encode: &dyn Fn(&Matmul, &mut wgpu::CommandEncoder),
) {
    let w = random_weight(rng, ty, rows, cols);
    let row_bytes =
        gpu.upload_weight_in(layout, "probe", ty, 1, cols, &w[..w.len() / rows], u64::MAX).unwrap().gpu_bytes();
    let max_part_bytes = if case == 2 { 9 * row_bytes } else { u64::MAX };
    let weight = gpu.upload_weight_in(layout, "w", ty, rows, cols, &w, max_part_bytes).unwrap();
    assert_eq!(weight.parts.len() > 1, case == 2 && rows > 9);
    let x = random_vec(rng, n * cols);
    let bias = (case % 2 == 1).then(|| random_vec(rng, rows));
    let y_init = (case % 3 == 2).then(|| random_vec(rng, n * rows));
    // x and y sit at offsets inside larger buffers, as in a decoder's scratch.
    let (x_offset, y_offset) = (8usize, 3usize);
    let mut x_all = random_vec(rng, x_offset + n * cols + 4);
    x_all[x_offset..x_offset + n * cols].copy_from_slice(&x);
    let y_end = y_offset + n * rows;
    let mut y_all = random_vec(rng, y_end + 2);
    if let Some(y) = &y_init {
        y_all[y_offset..y_end].copy_from_slice(y);
    }
    let x_buf = gpu.upload_f32("x", &x_all).unwrap();
    let y_buf = output_with(gpu, &y_all);
    let bias_buf = bias.as_ref().map(|b| gpu.upload_f32("bias", b).unwrap());
    let op = Matmul {
        weight: &weight,
        x: &x_buf,
        x_offset: x_offset as u32,
        y: &y_buf,
        y_offset: y_offset as u32,
        n: n as u32,
        bias: bias_buf.as_ref(),
        accumulate: y_init.is_some(),
    };
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    encode(&op, &mut encoder);
    gpu.queue.submit([encoder.finish()]);
    let all = pollster::block_on(gpu.read_f32(&y_buf, y_all.len())).unwrap();
    gpu.check_health().unwrap();
    let what = format!("{kernel} {ty} {layout:?} {rows}x{cols} n={n} bias={} acc={}", bias.is_some(), y_init.is_some());
    assert_eq!(&all[..y_offset], &y_all[..y_offset], "{what}: before y");
    assert_eq!(&all[y_end..], &y_all[y_end..], "{what}: after y");
    assert_matches(&what, ty, &w, rows, cols, &x, n, bias.as_deref(), y_init.as_deref(), &all[y_offset..y_end]);
}

#[test]
fn block_prefill_matches_the_reference() {
    // The CPU adapters' block prefill kernel (shaders/matmul_blocks.wgsl),
    // in both weight layouts, run directly so that it is checked on any
    // adapter: rows and tokens that are not multiples of its 8 rows x 8
    // tokens, bias, accumulation, weights in parts, x and y at offsets
    // inside larger buffers.
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(0xb10c2);
    let kinds = [
        (GgmlType::Q4_1, WeightLayout::Blocks),
        (GgmlType::Q8_0, WeightLayout::Blocks),
        (GgmlType::F32, WeightLayout::Blocks),
        (GgmlType::F16, WeightLayout::Blocks),
        (GgmlType::Q4_1, WeightLayout::Split),
        (GgmlType::Q8_0, WeightLayout::Split),
    ];
    for kind in kinds {
        let cases = [(1, 32, 2), (5, 64, 3), (67, 96, 13), (130, 576, 9), (16, 160, 8), (9, 32, 1), (20, 64, 17)];
        for (case, shape) in cases.into_iter().enumerate() {
            check_block_kernel(gpu, &mut rng, kind, shape, case, "block prefill", &|op, encoder| {
                if (gpu.adapter.is_cpu() || kind.1 == WeightLayout::Split) && op.n > 1 {
                    assert_eq!(PrefillShape::for_weight(gpu, op.weight, op.n), PrefillShape::Blocks { wg: 16 });
                }
                op.encode_prefill(gpu, encoder, PrefillShape::Blocks { wg: 16 }).unwrap();
            });
        }
    }
    // A type without a block kernel, and columns that are not whole blocks, are refused.
    let w = random_weight(&mut rng, GgmlType::Q6_K, 3, 256);
    let weight = gpu.upload_weight("q6_k", GgmlType::Q6_K, 3, 256, &w).unwrap();
    let x = gpu.upload_f32("x", &[0.5; 520]).unwrap();
    let y = gpu.output_f32("y", 6).unwrap();
    let op = Matmul { weight: &weight, x: &x, x_offset: 0, y: &y, y_offset: 0, n: 2, bias: None, accumulate: false };
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    let err = op.encode_prefill(gpu, &mut encoder, PrefillShape::Blocks { wg: 16 }).unwrap_err();
    assert_eq!(err.code(), "unsupported-model");
    let w = random_weight(&mut rng, GgmlType::Q8_0, 3, 32);
    let weight = gpu.upload_weight("q8", GgmlType::Q8_0, 3, 32, &w).unwrap();
    let op = Matmul { weight: &weight, x: &x, x_offset: 2, y: &y, y_offset: 0, n: 2, bias: None, accumulate: false };
    let err = op.encode_prefill(gpu, &mut encoder, PrefillShape::Blocks { wg: 16 }).unwrap_err();
    assert_eq!(err.code(), "invalid-argument");
}

/// Runs a matrix-matrix kernel in `shape` (accumulating onto `y0` when
/// given) and reads y back.
fn run_prefill(
    gpu: &GpuDevice,
    weight: &GpuWeight,
    x: &[f32],
    n: usize,
    bias: Option<&[f32]>,
    y0: Option<&[f32]>,
    shape: PrefillShape,
) -> Vec<f32> {
    let len = n * weight.rows;
    let x_buf = gpu.upload_f32("x", x).unwrap();
    let y_buf = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("y"),
        size: (len * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    if let Some(y0) = y0 {
        gpu.queue.write_buffer(&y_buf, 0, bytemuck::cast_slice(y0));
    }
    let bias_buf = bias.map(|b| gpu.upload_f32("bias", b).unwrap());
    let op = Matmul {
        weight,
        x: &x_buf,
        x_offset: 0,
        y: &y_buf,
        y_offset: 0,
        n: n as u32,
        bias: bias_buf.as_ref(),
        accumulate: y0.is_some(),
    };
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    op.encode_prefill(gpu, &mut encoder, shape).unwrap();
    gpu.queue.submit([encoder.finish()]);
    let y = pollster::block_on(gpu.read_f32(&y_buf, len)).unwrap();
    gpu.check_health().unwrap();
    y
}

/// An output buffer holding `values` (for ops that accumulate into y), readable back.
fn output_with(gpu: &GpuDevice, values: &[f32]) -> wgpu::Buffer {
    let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("y"),
        size: (values.len() * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    gpu.queue.write_buffer(&buffer, 0, bytemuck::cast_slice(values));
    buffer
}

/// Runs the matvec kernel in `shape` and reads y back.
fn run_matvec(gpu: &GpuDevice, weight: &GpuWeight, x: &[f32], bias: Option<&[f32]>, shape: MatvecShape) -> Vec<f32> {
    let x_buf = gpu.upload_f32("x", x).unwrap();
    let y_buf = gpu.output_f32("y", weight.rows).unwrap();
    let bias_buf = bias.map(|b| gpu.upload_f32("bias", b).unwrap());
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    Matmul { weight, x: &x_buf, x_offset: 0, y: &y_buf, y_offset: 0, n: 1, bias: bias_buf.as_ref(), accumulate: false }
        .encode_matvec(gpu, &mut encoder, shape)
        .unwrap();
    gpu.queue.submit([encoder.finish()]);
    let y = pollster::block_on(gpu.read_f32(&y_buf, weight.rows)).unwrap();
    gpu.check_health().unwrap();
    y
}

#[test]
fn offsets_into_shared_buffers() {
    // x and y live inside larger buffers, as activations of a model do; an
    // x offset that is not a multiple of 4 takes the tiled kernel even for
    // one token. Values around the written range must stay untouched.
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(5);
    let (ty, rows, cols) = (GgmlType::Q4_K, 37, 512);
    let w = random_weight(&mut rng, ty, rows, cols);
    let weight = gpu.upload_weight("w", ty, rows, cols, &w).unwrap();
    for (x_offset, y_offset, n) in [(8u32, 12u32, 1u32), (3, 5, 1), (4, 1, 3)] {
        let n_us = n as usize;
        let x_all = random_vec(&mut rng, x_offset as usize + n_us * cols + 9);
        let y_all = random_vec(&mut rng, y_offset as usize + n_us * rows + 7);
        let x_buf = gpu.upload_f32("x", &x_all).unwrap();
        let y_buf = output_with(gpu, &y_all);
        let op = Matmul { weight: &weight, x: &x_buf, x_offset, y: &y_buf, y_offset, n, bias: None, accumulate: true };
        assert_eq!(op.uses_matvec(), x_offset % 4 == 0 && n == 1);
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        op.encode(gpu, &mut encoder).unwrap();
        gpu.queue.submit([encoder.finish()]);
        let got = pollster::block_on(gpu.read_f32(&y_buf, y_all.len())).unwrap();

        let (xo, yo) = (x_offset as usize, y_offset as usize);
        let x = &x_all[xo..xo + n_us * cols];
        let y0 = &y_all[yo..yo + n_us * rows];
        let what = format!("offsets x {x_offset} y {y_offset} n {n}");
        assert_matches(&what, ty, &w, rows, cols, x, n_us, None, Some(y0), &got[yo..yo + n_us * rows]);
        assert_eq!(&got[..yo], &y_all[..yo], "{what}: before y");
        assert_eq!(&got[yo + n_us * rows..], &y_all[yo + n_us * rows..], "{what}: after y");
    }
}

/// The CPU adapters' block matvecs (shaders/matvec_blocks.wgsl on the
/// block layout, matvec_split.wgsl on the split layout), run directly so
/// that they are checked on any adapter: rows that are not a multiple of
/// their 8 (blocks) or 16 (split) rows per invocation, bias, accumulation,
/// weights in parts.
#[test]
fn block_matvec_matches_the_reference() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(0xb10c);
    for ty in [GgmlType::Q4_1, GgmlType::Q8_0] {
        for layout in [WeightLayout::Blocks, WeightLayout::Split] {
            for (case, (rows, cols)) in [(1, 32), (5, 64), (67, 96), (130, 576), (4, 160)].into_iter().enumerate() {
                check_block_kernel(
                    gpu,
                    &mut rng,
                    (ty, layout),
                    (rows, cols, 1),
                    case,
                    "block matvec",
                    &|op, encoder| {
                        if gpu.adapter.is_cpu() || layout == WeightLayout::Split {
                            assert!(op.uses_matvec_blocks(gpu), "{ty}: a CPU adapter should use the block matvec");
                        }
                        op.encode_matvec_blocks(gpu, encoder).unwrap();
                    },
                );
            }
        }
    }
    // A type without a block kernel, and an unaligned x, are refused, not misread.
    let w = random_weight(&mut rng, GgmlType::F16, 3, 32);
    let weight = gpu.upload_weight("f16", GgmlType::F16, 3, 32, &w).unwrap();
    let x = gpu.upload_f32("x", &[0.5; 40]).unwrap();
    let y = gpu.output_f32("y", 3).unwrap();
    let op = Matmul { weight: &weight, x: &x, x_offset: 0, y: &y, y_offset: 0, n: 1, bias: None, accumulate: false };
    assert!(!op.uses_matvec_blocks(gpu));
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    assert_eq!(op.encode_matvec_blocks(gpu, &mut encoder).unwrap_err().code(), "unsupported-model");
    let w = random_weight(&mut rng, GgmlType::Q8_0, 3, 32);
    let weight = gpu.upload_weight("q8", GgmlType::Q8_0, 3, 32, &w).unwrap();
    let op = Matmul { weight: &weight, x: &x, x_offset: 2, y: &y, y_offset: 0, n: 1, bias: None, accumulate: false };
    assert!(!op.uses_matvec_blocks(gpu));
    assert_eq!(op.encode_matvec_blocks(gpu, &mut encoder).unwrap_err().code(), "invalid-argument");

    // The split layout: only Q4_1 and Q8_0 have one; the general kernels
    // and an unaligned x refuse it with a typed error instead of misreading it.
    let err = gpu.upload_weight_in(WeightLayout::Split, "q4_k", GgmlType::Q4_K, 1, 256, &[0; 144], u64::MAX);
    assert_eq!(err.unwrap_err().code(), "unsupported-model");
    let weight = gpu.upload_weight_in(WeightLayout::Split, "q8", GgmlType::Q8_0, 3, 32, &w, u64::MAX).unwrap();
    let op = Matmul { weight: &weight, x: &x, x_offset: 0, y: &y, y_offset: 0, n: 1, bias: None, accumulate: false };
    let shape = MatvecShape { wg: 16, tpr: 1, r: 4, g: 16 };
    assert_eq!(op.encode_matvec(gpu, &mut encoder, shape).unwrap_err().code(), "unsupported-model");
    assert_eq!(op.encode_prefill(gpu, &mut encoder, PrefillShape::Tiled).unwrap_err().code(), "unsupported-model");
    let op = Matmul { x_offset: 2, ..op };
    assert_eq!(op.encode(gpu, &mut encoder).unwrap_err().code(), "unsupported-model");
    drop(encoder);
    let got = pollster::block_on(matmul(gpu, &weight, &[0.5; 32], 1, None, None)).unwrap();
    assert_matches("split after errors", GgmlType::Q8_0, &w, 3, 32, &[0.5; 32], 1, None, None, &got);
}

#[test]
fn split_weights_give_the_same_result() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(8);
    for (ty, rows, cols) in [(GgmlType::Q8_0, 50, 96), (GgmlType::Q6_K, 23, 512), (GgmlType::F16, 30, 9)] {
        let w = random_weight(&mut rng, ty, rows, cols);
        let row_bytes = gpu.upload_weight("probe", ty, 1, cols, &w[..w.len() / rows]).unwrap().gpu_bytes();
        // At most 7 rows per part: parts of 7, 7, ..., and a short last one.
        let weight = gpu.upload_weight_split("split", ty, rows, cols, &w, 7 * row_bytes + 3).unwrap();
        assert_eq!(weight.parts.len(), rows.div_ceil(7), "{ty}");
        assert!(weight.parts.iter().all(|p| p.buffer.size() <= 7 * row_bytes));
        assert_eq!(weight.parts.iter().map(|p| p.rows).sum::<usize>(), rows);
        assert_eq!(weight.gpu_bytes(), rows as u64 * row_bytes);
        for n in [1, 19] {
            let x = random_vec(&mut rng, n * cols);
            let bias = random_vec(&mut rng, rows);
            let got = pollster::block_on(matmul(gpu, &weight, &x, n, Some(&bias), None)).unwrap();
            assert_matches(&format!("split {ty} n={n}"), ty, &w, rows, cols, &x, n, Some(&bias), None, &got);
        }
    }
}

#[test]
fn more_workgroups_than_one_dispatch_dimension() {
    // One row per workgroup, so rows beyond 65535 spill into the grid's y.
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(21);
    let (ty, cols) = (GgmlType::Q8_0, 32);
    let rows = gpu.limits.max_compute_workgroups_per_dimension as usize + 300;
    let w = random_weight(&mut rng, ty, rows, cols);
    let weight = gpu.upload_weight_in(WeightLayout::Blocks, "tall", ty, rows, cols, &w, u64::MAX).unwrap();
    let x = random_vec(&mut rng, cols);
    let got = run_matvec(gpu, &weight, &x, None, MatvecShape { wg: 1, tpr: 1, r: 1, g: 1 });
    assert_matches("tall matvec", ty, &w, rows, cols, &x, 1, None, None, &got);
}

#[test]
fn bad_arguments_are_typed_errors() {
    let gpu = gpu();
    let err = gpu.upload_weight("w", GgmlType::Q8_0, 2, 32, &[0; 67]).unwrap_err();
    assert_eq!(err.code(), "model-format", "{err}");
    assert!(err.to_string().contains("\"w\""), "{err}");
    let err = gpu.upload_weight("w", GgmlType::Q8_0, 2, 48, &[0; 102]).unwrap_err();
    assert_eq!(err.code(), "model-format", "{err}");
    let err = gpu.upload_weight("w", GgmlType::Q2_K, 1, 256, &[0; 84]).unwrap_err();
    assert_eq!(err.code(), "unsupported-model", "{err}");
    let err = gpu.upload_weight("w", GgmlType::Q8_0, 0, 32, &[]).unwrap_err();
    assert_eq!(err.code(), "invalid-argument", "{err}");
    let err = gpu.upload_weight_split("w", GgmlType::Q8_0, 2, 64, &[0; 136], 40).unwrap_err();
    assert_eq!(err.code(), "adapter-limit", "{err}");

    let mut rng = StdRng::seed_from_u64(1);
    let w = random_weight(&mut rng, GgmlType::Q4_0, 3, 64);
    let weight = gpu.upload_weight("w", GgmlType::Q4_0, 3, 64, &w).unwrap();
    let run = |x: &[f32], n, bias: Option<&[f32]>, y0: Option<&[f32]>| {
        pollster::block_on(matmul(gpu, &weight, x, n, bias, y0)).unwrap_err()
    };
    for err in [
        run(&[0.0; 63], 1, None, None),
        run(&[0.0; 64], 2, None, None),
        run(&[], 0, None, None),
        run(&[0.0; 64], 1, Some(&[0.0; 2]), None),
        run(&[0.0; 128], 2, None, Some(&[0.0; 3])),
    ] {
        assert_eq!(err.code(), "invalid-argument", "{err}");
    }

    // Buffers too small for the announced shape are refused before encoding.
    let x = gpu.upload_f32("x", &[0.0; 64]).unwrap();
    let y = gpu.output_f32("y", 3).unwrap();
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    for (x_offset, y_offset, n) in [(1, 0, 1), (0, 1, 1), (0, 0, 2), (0, 0, 0)] {
        let op = Matmul { weight: &weight, x: &x, x_offset, y: &y, y_offset, n, bias: None, accumulate: false };
        let err = op.encode(gpu, &mut encoder).unwrap_err();
        assert_eq!(err.code(), "invalid-argument", "{err}");
    }
    let op =
        Matmul { weight: &weight, x: &x, x_offset: 0, y: &y, y_offset: 0, n: 1, bias: Some(&y), accumulate: false };
    let bad_shape = op.encode_matvec(gpu, &mut encoder, MatvecShape { wg: 64, tpr: 2, r: 4, g: 1 }).unwrap_err();
    assert_eq!(bad_shape.code(), "invalid-argument", "{bad_shape}");
    drop(encoder);

    // The device still works.
    let x = random_vec(&mut rng, 64);
    let got = pollster::block_on(matmul(gpu, &weight, &x, 1, None, None)).unwrap();
    assert_matches("after errors", GgmlType::Q4_0, &w, 3, 64, &x, 1, None, None, &got);
    gpu.check_health().unwrap();
}

#[test]
fn bandwidth_probes_give_sane_numbers() {
    let gpu = gpu();
    let report = measure_read_bandwidth(gpu, 8 << 20, 3).unwrap();
    assert!(report.bytes >= 8 << 20 && report.bytes < 9 << 20, "{report:?}");
    assert!(report.seconds > 0.0 && report.gb_per_s.is_finite() && report.gb_per_s > 0.0, "{report:?}");
    let mut rng = StdRng::seed_from_u64(2);
    let w = random_weight(&mut rng, GgmlType::Q8_0, 64, 256);
    let weight = gpu.upload_weight("w", GgmlType::Q8_0, 64, 256, &w).unwrap();
    let seconds = time_matvec(gpu, &weight, 3).unwrap();
    assert!(seconds > 0.0 && seconds < 1.0, "{seconds}");
    eprintln!("read bandwidth {:.2} GB/s; 64x256 Q8_0 matvec {:.1} us", report.gb_per_s, seconds * 1e6);
}

/// Decode speed against the read bandwidth, for the report:
/// `cargo test -p navaja-gpu --test matmul_gpu -- --ignored --nocapture matvec_speed`.
#[test]
#[ignore = "a benchmark: several seconds on lavapipe"]
fn matvec_speed_report() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(3);
    let read = measure_read_bandwidth(gpu, 128 << 20, 7).unwrap();
    eprintln!("adapter {}: read bandwidth {:.2} GB/s over {} MiB", gpu.adapter.name, read.gb_per_s, read.bytes >> 20);
    let shapes: Vec<(GgmlType, usize, usize)> = std::env::var("NAVAJA_MATVEC_SHAPES")
        .ok()
        .map(|s| {
            s.split(',')
                .map(|item| {
                    let f: Vec<&str> = item.split(':').collect();
                    let ty = GPU_WEIGHT_TYPES.iter().copied().find(|t| t.name() == f[0]).unwrap();
                    (ty, f[1].parse().unwrap(), f[2].parse().unwrap())
                })
                .collect()
        })
        .unwrap_or_else(|| {
            let mut v = vec![(GgmlType::Q8_0, 1536, 576), (GgmlType::Q8_0, 49152, 576)];
            for ty in [GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K] {
                v.push((ty, 576, 1536));
            }
            v
        });
    let extra_shapes: Vec<MatvecShape> = std::env::var("NAVAJA_MATVEC_TRY")
        .ok()
        .map(|s| {
            s.split(',')
                .map(|item| {
                    let f: Vec<u32> = item.split(':').map(|v| v.parse().unwrap()).collect();
                    MatvecShape { wg: f[0], tpr: f[1], r: f[2], g: f[3] }
                })
                .collect()
        })
        .unwrap_or_default();
    for (ty, rows, cols) in shapes {
        let w = random_weight(&mut rng, ty, rows, cols);
        let weight = gpu.upload_weight("bench", ty, rows, cols, &w).unwrap();
        let default = MatvecShape::for_weight(gpu, &weight);
        for shape in std::iter::once(default).chain(extra_shapes.iter().copied()) {
            let seconds = time_matvec_with(gpu, &weight, shape, 7).unwrap();
            let gbs = weight.gpu_bytes() as f64 / seconds / 1e9;
            eprintln!(
                "{ty:>5} {rows:>6} x {cols:<5} {:>9} B  {:>9.1} us  {gbs:>7.2} GB/s  {:>5.1}% of read  {shape:?}",
                weight.gpu_bytes(),
                seconds * 1e6,
                100.0 * gbs / read.gb_per_s
            );
        }
    }
}

/// Prefill speed: 128 tokens through the SmolLM2-135M and MiniLM projections,
/// `cargo test -p navaja-gpu --test matmul_gpu -- --ignored --nocapture matmul_speed`.
/// NAVAJA_PREFILL_TRY=tiled,blocks:64,16:2:8 (blocks:wg, wg:r:t) also times other shapes.
#[test]
#[ignore = "a benchmark: tens of seconds on lavapipe"]
fn matmul_speed_report() {
    let gpu = gpu();
    let mut rng = StdRng::seed_from_u64(4);
    let n = 128usize;
    let extra: Vec<PrefillShape> = std::env::var("NAVAJA_PREFILL_TRY")
        .ok()
        .map(|s| {
            s.split(',')
                .map(|item| match item {
                    "tiled" => PrefillShape::Tiled,
                    "blocks" => PrefillShape::Blocks { wg: 16 },
                    _ if item.starts_with("blocks:") => PrefillShape::Blocks { wg: item[7..].parse().unwrap() },
                    _ => {
                        let f: Vec<u32> = item.split(':').map(|v| v.parse().unwrap()).collect();
                        PrefillShape::Lanes { wg: f[0], r: f[1], t: f[2] }
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let only_extra = std::env::var("NAVAJA_PREFILL_ONLY").is_ok();
    let mut shapes = vec![];
    for ty in [GgmlType::Q4_1, GgmlType::Q8_0] {
        for (rows, cols) in [(576, 576), (192, 576), (1536, 576), (576, 1536)] {
            shapes.push((ty, rows, cols));
        }
    }
    // all-MiniLM-L6-v2's projections (F32 safetensors; F16 as in other exports).
    for ty in [GgmlType::F32, GgmlType::F16] {
        for (rows, cols) in [(384, 384), (1536, 384), (384, 1536)] {
            shapes.push((ty, rows, cols));
        }
    }
    eprintln!("adapter {} ({}), n = {n}", gpu.adapter.name, gpu.adapter.device_type);
    for (ty, rows, cols) in shapes {
        let w = random_weight(&mut rng, ty, rows, cols);
        let weight = gpu.upload_weight("bench", ty, rows, cols, &w).unwrap();
        let x = gpu.upload_f32("x", &random_vec(&mut rng, n * cols)).unwrap();
        let y = gpu.output_f32("y", n * rows).unwrap();
        let op = Matmul {
            weight: &weight,
            x: &x,
            x_offset: 0,
            y: &y,
            y_offset: 0,
            n: n as u32,
            bias: None,
            accumulate: false,
        };
        let default = PrefillShape::for_weight(gpu, &weight, n as u32);
        let tried =
            if only_extra { extra.clone() } else { std::iter::once(default).chain(extra.iter().copied()).collect() };
        for shape in tried {
            let mut times = vec![];
            for _ in 0..6 {
                let mut encoder = gpu.device.create_command_encoder(&Default::default());
                op.encode_prefill(gpu, &mut encoder, shape).unwrap();
                let commands = encoder.finish();
                let start = std::time::Instant::now();
                gpu.queue.submit([commands]);
                gpu.wait_idle().unwrap();
                times.push(start.elapsed().as_secs_f64());
            }
            gpu.check_health().unwrap();
            times.remove(0); // compiles the pipeline
            times.sort_by(f64::total_cmp);
            let seconds = times[times.len() / 2];
            let gflops = 2.0 * (rows * cols * n) as f64 / seconds / 1e9;
            eprintln!(
                "{ty:>5} {rows:>5} x {cols:<5} n={n}  {:>8.2} ms  {gflops:>6.2} GFLOP/s  {shape:?}",
                seconds * 1e3
            );
        }
    }
}
