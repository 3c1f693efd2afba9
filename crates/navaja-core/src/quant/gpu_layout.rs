//! How weight matrices are laid out in GPU buffers.
//!
//! WGSL storage buffers are read in 4-byte words (`array<u32>`), so every
//! block a kernel reads must start on a word boundary. ggml's blocks are
//! kept byte for byte where they already are a multiple of 4 bytes; the
//! others are repacked so that the quants come first (word-aligned, in
//! their ggml order) and the f16 scale moves behind them, padded to a word:
//!
//! | type | ggml block | GPU block (bytes) |
//! |---|---|---|
//! | F32  | 4: `f32` | 4, unchanged |
//! | F16  | 2: `f16` | 2, unchanged, but each row is padded with one zero f16 when `cols` is odd, so rows are whole words |
//! | Q4_0 | 18: `d \| qs[16]` | 20: `qs[16]` 0..16, `d` 16..18, zero 18..20 |
//! | Q4_1 | 20: `d \| m \| qs[16]` | 20, unchanged: `d` 0..2, `m` 2..4, `qs` 4..20 |
//! | Q5_0 | 22: `d \| qh: u32 \| qs[16]` | 24: `qs[16]` 0..16, `qh` 16..20, `d` 20..22, zero 22..24 |
//! | Q8_0 | 34: `d \| qs[32]` | 36: `qs[32]` 0..32, `d` 32..34, zero 34..36 |
//! | Q4_K | 144: `d \| dmin \| scales[12] \| qs[128]` | 144, unchanged |
//! | Q5_K | 176: `d \| dmin \| scales[12] \| qh[32] \| qs[128]` | 176, unchanged |
//! | Q6_K | 210: `ql[128] \| qh[64] \| scales[16] \| d` | 212: unchanged 0..210, zero 210..212 |
//!
//! The meaning of every field is ggml's (see [`super::legacy`] and
//! [`super::kquants`]); the WGSL decoders in `shaders/quant_*.wgsl` read
//! exactly these offsets. Rows stay contiguous and in order, so a matrix
//! can be split between buffers at any row boundary.
//!
//! The padding costs 11% (Q4_0), 9% (Q5_0) and 6% (Q8_0) more bytes per
//! token for those types; K-quants and Q4_1 cost nothing.

use super::types::GgmlType;
use crate::{NavajaError, Result};

/// The weight types the GPU kernels can read, in the order errors list them.
pub const GPU_WEIGHT_TYPES: &[GgmlType] = &[
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Bytes of one block of `ty` in the GPU layout (see the table above), or
/// `None` when the GPU kernels cannot read `ty`. F16 rows with an odd number
/// of values also carry two bytes of padding; [`gpu_row_bytes`] counts it.
pub fn gpu_block_bytes(ty: GgmlType) -> Option<usize> {
    Some(match ty {
        GgmlType::F32 => 4,
        GgmlType::F16 => 2,
        GgmlType::Q4_0 | GgmlType::Q4_1 => 20,
        GgmlType::Q5_0 => 24,
        GgmlType::Q8_0 => 36,
        GgmlType::Q4_K => 144,
        GgmlType::Q5_K => 176,
        GgmlType::Q6_K => 212,
        _ => return None,
    })
}

fn unsupported(ty: GgmlType) -> NavajaError {
    let list: Vec<String> = GPU_WEIGHT_TYPES.iter().map(|t| t.name()).collect();
    NavajaError::unsupported(format!("GPU kernels cannot read weights of type {ty} (supported: {})", list.join(", ")))
}

/// Bytes of one row of `cols` values of `ty` in the GPU layout: a whole
/// number of 4-byte words.
///
/// Errors: `unsupported-model` for a type the kernels cannot read,
/// `model-format` when `cols` is not a whole number of blocks.
pub fn gpu_row_bytes(ty: GgmlType, cols: usize) -> Result<usize> {
    let block_bytes = gpu_block_bytes(ty).ok_or_else(|| unsupported(ty))?;
    let block_len = ty.block_len();
    if !cols.is_multiple_of(block_len) {
        return Err(NavajaError::format(format!(
            "a row of {cols} values is not a whole number of {ty} blocks of {block_len} values"
        )));
    }
    (cols / block_len)
        .checked_mul(block_bytes)
        .and_then(|b| b.checked_next_multiple_of(4))
        .ok_or_else(|| NavajaError::format(format!("a row of {cols} {ty} values is too large")))
}

/// Converts a `rows` x `cols` matrix of `ty` from ggml's layout (rows of
/// `cols / block_len` blocks, one after the other) to the GPU layout.
///
/// Errors: `unsupported-model` for a type the kernels cannot read;
/// `model-format` when `cols` is not a whole number of blocks or
/// `ggml_bytes` is not exactly the matrix's size.
pub fn repack_for_gpu(ty: GgmlType, rows: usize, cols: usize, ggml_bytes: &[u8]) -> Result<Vec<u8>> {
    let gpu_row = gpu_row_bytes(ty, cols)?;
    let ggml_row = (cols / ty.block_len()) * ty.block_bytes();
    let size_error = || {
        NavajaError::format(format!(
            "a {rows}x{cols} {ty} matrix takes {} bytes, but {} bytes were given",
            rows.checked_mul(ggml_row).map_or_else(|| "too many".to_string(), |b| b.to_string()),
            ggml_bytes.len()
        ))
    };
    if rows.checked_mul(ggml_row) != Some(ggml_bytes.len()) {
        return Err(size_error());
    }
    let total = rows.checked_mul(gpu_row).ok_or_else(size_error)?;
    let mut out = vec![0u8; total];
    if ggml_row == 0 {
        return Ok(out);
    }
    for (src, dst) in ggml_bytes.chunks_exact(ggml_row).zip(out.chunks_exact_mut(gpu_row)) {
        repack_row(ty, src, dst);
    }
    Ok(out)
}

/// Repacks one row; `dst` is zeroed and exactly [`gpu_row_bytes`] long.
fn repack_row(ty: GgmlType, src: &[u8], dst: &mut [u8]) {
    let (src_block, dst_block) = (ty.block_bytes(), gpu_block_bytes(ty).unwrap_or(0));
    match ty {
        // Unchanged blocks, one after the other (F16's row padding stays zero).
        GgmlType::F32 | GgmlType::F16 | GgmlType::Q4_1 | GgmlType::Q4_K | GgmlType::Q5_K => {
            dst[..src.len()].copy_from_slice(src);
        }
        // Unchanged blocks, each followed by two zero bytes.
        GgmlType::Q6_K => {
            for (s, d) in src.chunks_exact(src_block).zip(dst.chunks_exact_mut(dst_block)) {
                d[..src_block].copy_from_slice(s);
            }
        }
        // d | quants  ->  quants | d | pad
        GgmlType::Q4_0 | GgmlType::Q8_0 => {
            for (s, d) in src.chunks_exact(src_block).zip(dst.chunks_exact_mut(dst_block)) {
                let quants = src_block - 2;
                d[..quants].copy_from_slice(&s[2..]);
                d[quants..quants + 2].copy_from_slice(&s[..2]);
            }
        }
        // d | qh | qs  ->  qs | qh | d | pad
        GgmlType::Q5_0 => {
            for (s, d) in src.chunks_exact(src_block).zip(dst.chunks_exact_mut(dst_block)) {
                d[0..16].copy_from_slice(&s[6..22]);
                d[16..20].copy_from_slice(&s[2..6]);
                d[20..22].copy_from_slice(&s[0..2]);
            }
        }
        // Excluded by gpu_row_bytes.
        _ => {}
    }
}

/// Byte offsets of the f16 fields (scales `d`, mins `m`/`dmin`) inside one
/// *ggml* block of `ty`; empty for F32/F16 and unsupported types.
///
/// Tests that build random blocks overwrite these with small, finite
/// scales so that random quants give realistic weights.
pub fn ggml_f16_field_offsets(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q2_K => &[80, 82],
        GgmlType::Q3_K => &[108],
        GgmlType::Q6_K => &[208],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::dequant::dequantize;

    /// A deterministic byte pattern with no two equal neighbours.
    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed)).collect()
    }

    /// The inverse of `repack_row`, written independently from the table in
    /// the module docs: GPU block bytes back to a ggml block.
    fn unpack_block(ty: GgmlType, g: &[u8]) -> Vec<u8> {
        match ty {
            GgmlType::Q4_0 => [&g[16..18], &g[0..16]].concat(),
            GgmlType::Q8_0 => [&g[32..34], &g[0..32]].concat(),
            GgmlType::Q5_0 => [&g[20..22], &g[16..20], &g[0..16]].concat(),
            GgmlType::Q6_K => g[..210].to_vec(),
            _ => g.to_vec(),
        }
    }

    #[test]
    fn block_sizes_are_whole_words() {
        for &ty in GPU_WEIGHT_TYPES {
            let bytes = gpu_block_bytes(ty).unwrap();
            assert!(bytes >= ty.block_bytes(), "{ty}");
            if ty != GgmlType::F16 {
                assert_eq!(bytes % 4, 0, "{ty}");
            }
        }
        assert_eq!(gpu_block_bytes(GgmlType::Q2_K), None);
        assert_eq!(gpu_block_bytes(GgmlType::BF16), None);
    }

    #[test]
    fn round_trip_every_type() {
        for &ty in GPU_WEIGHT_TYPES {
            let (rows, blocks) = (3, 2);
            let cols = blocks * ty.block_len();
            let ggml = pattern(rows * blocks * ty.block_bytes(), ty.id() as u8);
            let gpu = repack_for_gpu(ty, rows, cols, &ggml).unwrap();
            let row_bytes = gpu_row_bytes(ty, cols).unwrap();
            assert_eq!(gpu.len(), rows * row_bytes, "{ty}");
            let gb = gpu_block_bytes(ty).unwrap();
            let back: Vec<u8> = gpu
                .chunks_exact(row_bytes)
                .flat_map(|row| row[..blocks * gb].chunks_exact(gb).flat_map(|b| unpack_block(ty, b)))
                .collect();
            assert_eq!(back, ggml, "{ty}");
            // Padding bytes are zero.
            for row in gpu.chunks_exact(row_bytes) {
                for block in row[..blocks * gb].chunks_exact(gb) {
                    let used = match ty {
                        GgmlType::Q4_0 => 18,
                        GgmlType::Q5_0 => 22,
                        GgmlType::Q8_0 => 34,
                        GgmlType::Q6_K => 210,
                        _ => gb,
                    };
                    assert!(block[used..].iter().all(|&b| b == 0), "{ty}");
                }
            }
        }
    }

    #[test]
    fn scales_land_behind_the_quants() {
        // Q8_0: d = 1.0 (0x3c00), quants 1..=32.
        let mut block = vec![0x00, 0x3c];
        block.extend(1..=32u8);
        let gpu = repack_for_gpu(GgmlType::Q8_0, 1, 32, &block).unwrap();
        assert_eq!(&gpu[0..4], &[1, 2, 3, 4]);
        assert_eq!(&gpu[32..36], &[0x00, 0x3c, 0, 0]);

        // Q5_0: d, qh = 0xdeadbeef, qs = 100..116.
        let mut block = vec![0x00, 0x40];
        block.extend(0xdead_beefu32.to_le_bytes());
        block.extend(100..116u8);
        let gpu = repack_for_gpu(GgmlType::Q5_0, 1, 32, &block).unwrap();
        assert_eq!(gpu[0], 100);
        assert_eq!(u32::from_le_bytes(gpu[16..20].try_into().unwrap()), 0xdead_beef);
        assert_eq!(&gpu[20..24], &[0x00, 0x40, 0, 0]);
    }

    #[test]
    fn odd_f16_rows_are_padded_to_words() {
        // 3 values per row: 6 bytes -> 8 bytes.
        let ggml = pattern(2 * 6, 1);
        let gpu = repack_for_gpu(GgmlType::F16, 2, 3, &ggml).unwrap();
        assert_eq!(gpu.len(), 16);
        assert_eq!(&gpu[0..6], &ggml[0..6]);
        assert_eq!(&gpu[6..8], &[0, 0]);
        assert_eq!(&gpu[8..14], &ggml[6..12]);
        assert_eq!(gpu_row_bytes(GgmlType::F16, 4).unwrap(), 8);
        assert_eq!(gpu_row_bytes(GgmlType::F32, 7).unwrap(), 28);
    }

    #[test]
    fn values_survive_repacking() {
        // The GPU layout holds the same numbers: dequantizing the unpacked
        // bytes gives exactly what dequantizing the original gives.
        for &ty in GPU_WEIGHT_TYPES {
            let cols = 2 * ty.block_len().max(16);
            let mut ggml = pattern(ty.bytes_for(cols as u64).unwrap() as usize, 7);
            if ty == GgmlType::F32 || ty == GgmlType::F16 {
                ggml.iter_mut().skip(1).step_by(2).for_each(|b| *b &= 0x3b); // finite values
            }
            let gpu = repack_for_gpu(ty, 1, cols, &ggml).unwrap();
            let gb = gpu_block_bytes(ty).unwrap();
            let blocks = cols / ty.block_len();
            let back: Vec<u8> = gpu[..blocks * gb].chunks_exact(gb).flat_map(|b| unpack_block(ty, b)).collect();
            let (mut a, mut b) = (vec![0.0; cols], vec![0.0; cols]);
            dequantize(ty, &ggml, &mut a).unwrap();
            dequantize(ty, &back, &mut b).unwrap();
            assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn errors() {
        let err = repack_for_gpu(GgmlType::Q2_K, 1, 256, &[0; 84]).unwrap_err();
        assert_eq!(err.code(), "unsupported-model", "{err}");
        assert!(err.to_string().contains("Q2_K"), "{err}");
        let err = repack_for_gpu(GgmlType::Q8_0, 1, 48, &[0; 51]).unwrap_err();
        assert_eq!(err.code(), "model-format", "{err}");
        assert!(err.to_string().contains("whole number"), "{err}");
        let err = repack_for_gpu(GgmlType::Q8_0, 2, 32, &[0; 34]).unwrap_err();
        assert_eq!(err.code(), "model-format", "{err}");
        assert!(err.to_string().contains("68 bytes"), "{err}");
        let err = repack_for_gpu(GgmlType::Q4_K, usize::MAX, 256, &[0; 144]).unwrap_err();
        assert_eq!(err.code(), "model-format", "{err}");
        assert!(repack_for_gpu(GgmlType::Q4_K, 0, 256, &[]).unwrap().is_empty());
    }

    #[test]
    fn f16_field_offsets_point_at_f16_fields() {
        for &ty in GPU_WEIGHT_TYPES {
            for &at in ggml_f16_field_offsets(ty) {
                assert!(at + 2 <= ty.block_bytes(), "{ty}");
            }
        }
        assert_eq!(ggml_f16_field_offsets(GgmlType::Q6_K), &[208]);
    }
}
