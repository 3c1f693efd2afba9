//! The split GPU layout: each row's quants first, its scales behind them.
//!
//! CPU adapters (SwiftShader, lavapipe) run WGSL invocations as SIMD lanes
//! and emulate every storage load with a loop over the lanes, so a kernel
//! there is bound by load instructions, not bytes. In the block layout of
//! [`super::gpu_layout`] a Q4_1 block is 5 words (scales, then 4 words of
//! nibbles) and a Q8_0 block 9, so no block starts on a 16-byte boundary and
//! every word takes its own load. Here a row of `nb` blocks is
//!
//! | words | what |
//! |---|---|
//! | `0 .. nb * QW` | block `b`'s quants in words `b * QW .. (b + 1) * QW`, in ggml's byte order |
//! | `nb * QW .. nb * QW + nb` | block `b`'s scale word: Q4_1 `d \| m` (two f16), Q8_0 `d \| 0` |
//! | up to a multiple of 4 | zero padding, so every row starts on 16 bytes |
//!
//! with `QW` = 4 (Q4_1) or 8 (Q8_0): a block's quants are one or two whole
//! `vec4<u32>` loads. Rows stay contiguous and in order, so a matrix can be
//! split between buffers at any row boundary, and a row can be repacked on
//! its own (streamed loads do). The padding costs 2% of a 576-column Q4_1
//! row, 1% of a Q8_0 one, nothing for 1536 columns.

use super::types::GgmlType;
use crate::{NavajaError, Result};

/// Which of the two GPU layouts a weight is stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLayout {
    /// [`super::gpu_layout`]: ggml's blocks, word-aligned. Every type; every kernel.
    Blocks,
    /// This module's layout: Q4_1 and Q8_0 only, read by the CPU adapters'
    /// block kernels (`shaders/split_*.wgsl`).
    Split,
}

/// Quant words per block in the split layout, or `None` for a type that
/// has no split layout.
pub fn split_quant_words(ty: GgmlType) -> Option<usize> {
    match ty {
        GgmlType::Q4_1 => Some(4),
        GgmlType::Q8_0 => Some(8),
        _ => None,
    }
}

/// Whether `ty` can be stored in the split layout.
pub fn has_split_layout(ty: GgmlType) -> bool {
    split_quant_words(ty).is_some()
}

fn no_split(ty: GgmlType) -> NavajaError {
    NavajaError::unsupported(format!("weights of type {ty} have no split GPU layout (Q4_1 and Q8_0 do)"))
}

/// Words of one row's quants and scales, without the padding: what the
/// kernels read.
pub fn split_row_data_bytes(ty: GgmlType, cols: usize) -> Result<usize> {
    let qw = split_quant_words(ty).ok_or_else(|| no_split(ty))?;
    if !cols.is_multiple_of(ty.block_len()) {
        return Err(NavajaError::format(format!(
            "a row of {cols} values is not a whole number of {ty} blocks of {} values",
            ty.block_len()
        )));
    }
    (cols / ty.block_len())
        .checked_mul((qw + 1) * 4)
        .ok_or_else(|| NavajaError::format(format!("a row of {cols} {ty} values is too large")))
}

/// Bytes of one row in the split layout: a multiple of 16.
///
/// Errors: `unsupported-model` for a type without a split layout,
/// `model-format` when `cols` is not a whole number of blocks.
pub fn split_row_bytes(ty: GgmlType, cols: usize) -> Result<usize> {
    split_row_data_bytes(ty, cols)?
        .checked_next_multiple_of(16)
        .ok_or_else(|| NavajaError::format(format!("a row of {cols} {ty} values is too large")))
}

/// Converts a `rows` x `cols` matrix of `ty` from ggml's layout to the split
/// layout. Errors as [`split_row_bytes`], and `model-format` when
/// `ggml_bytes` is not exactly the matrix's size.
pub fn repack_for_gpu_split(ty: GgmlType, rows: usize, cols: usize, ggml_bytes: &[u8]) -> Result<Vec<u8>> {
    let out_row = split_row_bytes(ty, cols)?;
    let qw = split_quant_words(ty).ok_or_else(|| no_split(ty))?;
    let blocks = cols / ty.block_len();
    let ggml_row = blocks * ty.block_bytes();
    if rows.checked_mul(ggml_row) != Some(ggml_bytes.len()) {
        return Err(NavajaError::format(format!(
            "a {rows}x{cols} {ty} matrix takes {rows} * {ggml_row} bytes, but {} bytes were given",
            ggml_bytes.len()
        )));
    }
    let mut out = vec![0u8; rows * out_row];
    if ggml_row == 0 {
        return Ok(out);
    }
    let quant_bytes = qw * 4;
    // ggml: Q4_1 `d | m | qs[16]` (scales 0..4), Q8_0 `d | qs[32]` (scale 0..2).
    let scale_bytes = ty.block_bytes() - quant_bytes;
    for (src, dst) in ggml_bytes.chunks_exact(ggml_row).zip(out.chunks_exact_mut(out_row)) {
        let (quants, rest) = dst.split_at_mut(blocks * quant_bytes);
        for (b, block) in src.chunks_exact(ty.block_bytes()).enumerate() {
            quants[b * quant_bytes..(b + 1) * quant_bytes].copy_from_slice(&block[scale_bytes..]);
            rest[b * 4..b * 4 + scale_bytes].copy_from_slice(&block[..scale_bytes]);
        }
    }
    Ok(out)
}

impl WeightLayout {
    /// Bytes of one row of `cols` values of `ty` in this layout.
    pub fn row_bytes(self, ty: GgmlType, cols: usize) -> Result<usize> {
        match self {
            WeightLayout::Blocks => super::gpu_layout::gpu_row_bytes(ty, cols),
            WeightLayout::Split => split_row_bytes(ty, cols),
        }
    }

    /// Bytes of one row the kernels read (the split layout's row padding is
    /// never loaded).
    pub fn row_data_bytes(self, ty: GgmlType, cols: usize) -> Result<usize> {
        match self {
            WeightLayout::Blocks => super::gpu_layout::gpu_row_bytes(ty, cols),
            WeightLayout::Split => split_row_data_bytes(ty, cols),
        }
    }

    /// Converts `rows` rows of ggml bytes to this layout.
    pub fn repack(self, ty: GgmlType, rows: usize, cols: usize, ggml_bytes: &[u8]) -> Result<Vec<u8>> {
        match self {
            WeightLayout::Blocks => super::gpu_layout::repack_for_gpu(ty, rows, cols, ggml_bytes),
            WeightLayout::Split => repack_for_gpu_split(ty, rows, cols, ggml_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed)).collect()
    }

    #[test]
    fn rows_are_quants_then_scales_then_zero_padding() {
        // Q4_1, 3 blocks: 12 quant words + 3 scale words = 15 -> 16 words.
        let ggml = pattern(2 * 3 * 20, 7);
        let split = repack_for_gpu_split(GgmlType::Q4_1, 2, 96, &ggml).unwrap();
        assert_eq!(split.len(), 2 * 64);
        for r in 0..2 {
            let row = &split[r * 64..(r + 1) * 64];
            for b in 0..3 {
                let block = &ggml[(r * 3 + b) * 20..(r * 3 + b + 1) * 20];
                assert_eq!(&row[b * 16..(b + 1) * 16], &block[4..20]);
                assert_eq!(&row[48 + b * 4..48 + b * 4 + 4], &block[0..4]);
            }
            assert_eq!(&row[60..64], &[0; 4]);
        }
        // Q8_0, 1 block: 8 quant words + 1 scale word (d | 0) = 9 -> 12 words.
        let ggml = pattern(34, 3);
        let split = repack_for_gpu_split(GgmlType::Q8_0, 1, 32, &ggml).unwrap();
        assert_eq!(split.len(), 48);
        assert_eq!(&split[..32], &ggml[2..34]);
        assert_eq!(&split[32..36], &[ggml[0], ggml[1], 0, 0]);
        assert!(split[36..].iter().all(|&b| b == 0));
    }

    #[test]
    fn sizes() {
        assert_eq!(split_row_bytes(GgmlType::Q4_1, 576).unwrap(), 368); // 90 words -> 92
        assert_eq!(split_row_data_bytes(GgmlType::Q4_1, 576).unwrap(), 360);
        assert_eq!(split_row_bytes(GgmlType::Q4_1, 1536).unwrap(), 960);
        assert_eq!(split_row_bytes(GgmlType::Q8_0, 576).unwrap(), 656); // 162 words -> 164
        assert!(has_split_layout(GgmlType::Q8_0) && !has_split_layout(GgmlType::Q4_K));
    }

    #[test]
    fn errors() {
        let err = repack_for_gpu_split(GgmlType::Q4_K, 1, 256, &[0; 144]).unwrap_err();
        assert_eq!(err.code(), "unsupported-model", "{err}");
        let err = repack_for_gpu_split(GgmlType::Q8_0, 1, 48, &[0; 51]).unwrap_err();
        assert_eq!(err.code(), "model-format", "{err}");
        let err = repack_for_gpu_split(GgmlType::Q8_0, 2, 32, &[0; 34]).unwrap_err();
        assert_eq!(err.code(), "model-format", "{err}");
        assert!(err.to_string().contains("34 bytes were given"), "{err}");
        let err = split_row_bytes(GgmlType::Q8_0, usize::MAX / 32 * 32).unwrap_err();
        assert_eq!(err.code(), "model-format", "{err}");
    }
}
