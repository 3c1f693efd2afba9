//! The CPU backend's KV cache of one layer: keys (or values) a row of
//! `kv_width` per position, in f32 or in 8-bit blocks of 32 with an f32
//! scale each (q8: 36 bytes per 32 values, 3.6x smaller than f32), quantized
//! as they are written.

use super::dot::{BLOCK, quantize_block};
use crate::quant::kv::KvType;
use crate::{NavajaError, Result};

#[derive(Debug, Clone)]
pub(crate) enum KvRows {
    F32(Vec<f32>),
    /// `scales[b] * quants[32 b + i]`, blocks in position-major order.
    Q8 {
        scales: Vec<f32>,
        quants: Vec<i8>,
    },
}

impl KvRows {
    /// Empty rows of `kind`, which must be f32, or q8 with heads of whole blocks.
    pub fn new(kind: KvType, head_dim: usize) -> Result<KvRows> {
        match kind {
            KvType::F32 => Ok(KvRows::F32(Vec::new())),
            KvType::Q8 if head_dim.is_multiple_of(BLOCK) => Ok(KvRows::Q8 { scales: Vec::new(), quants: Vec::new() }),
            KvType::Q8 => Err(NavajaError::invalid(format!(
                "a q8 CPU cache needs heads of a multiple of {BLOCK} values, not {head_dim}"
            ))),
            other => Err(NavajaError::invalid(format!(
                "the CPU backend caches keys and values as f32 or q8, not {}",
                other.name()
            ))),
        }
    }

    /// Bytes one position's row of `width` values takes.
    pub fn row_bytes(&self, width: usize) -> usize {
        match self {
            KvRows::F32(_) => width * 4,
            KvRows::Q8 { .. } => width + width / BLOCK * 4,
        }
    }

    /// Appends one position's row.
    pub fn push(&mut self, row: &[f32]) {
        match self {
            KvRows::F32(v) => v.extend_from_slice(row),
            KvRows::Q8 { scales, quants } => {
                for block in row.chunks_exact(BLOCK) {
                    let (d, q) = quantize_block(block);
                    scales.push(d);
                    // |q| <= 127 by construction.
                    quants.extend(q.iter().map(|&v| v as i8));
                }
            }
        }
    }

    /// Keeps the first `positions` rows of `width` values.
    pub fn truncate(&mut self, positions: usize, width: usize) {
        match self {
            KvRows::F32(v) => v.truncate(positions * width),
            KvRows::Q8 { scales, quants } => {
                scales.truncate(positions * width / BLOCK);
                quants.truncate(positions * width);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_rows_round_trip_within_half_a_step() {
        let mut rows = KvRows::new(KvType::Q8, 32).unwrap();
        let row: Vec<f32> = (0..64).map(|i| (i as f32 - 30.0) * 0.1).collect();
        rows.push(&row);
        rows.push(&row);
        rows.truncate(1, 64);
        let KvRows::Q8 { scales, quants } = &rows else { unreachable!() };
        assert_eq!((scales.len(), quants.len()), (2, 64));
        for (i, &v) in row.iter().enumerate() {
            let d = scales[i / 32];
            assert!((d * f32::from(quants[i]) - v).abs() <= d * 0.5 + 1e-6);
        }
        assert_eq!(rows.row_bytes(192), 192 + 24);
        assert!(KvRows::new(KvType::Q8, 40).is_err());
        assert!(KvRows::new(KvType::Q4, 64).is_err());
    }
}
