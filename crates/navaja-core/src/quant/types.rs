//! ggml's tensor types: their GGUF ids, block sizes and bytes per block.
//!
//! The table follows `enum ggml_type` in ggml.h. Every id a GGUF file may
//! carry is known here, so a file is parsed (and `navaja inspect` can show
//! it) even when navaja cannot compute with one of its types; computing with
//! such a tensor is an `unsupported-model` error naming the tensor and type.

use crate::{NavajaError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
}

/// (type, GGUF id, elements per block, bytes per block)
const TABLE: &[(GgmlType, u32, usize, usize)] = &[
    (GgmlType::F32, 0, 1, 4),
    (GgmlType::F16, 1, 1, 2),
    (GgmlType::Q4_0, 2, 32, 18),
    (GgmlType::Q4_1, 3, 32, 20),
    (GgmlType::Q5_0, 6, 32, 22),
    (GgmlType::Q5_1, 7, 32, 24),
    (GgmlType::Q8_0, 8, 32, 34),
    (GgmlType::Q8_1, 9, 32, 36),
    (GgmlType::Q2_K, 10, 256, 84),
    (GgmlType::Q3_K, 11, 256, 110),
    (GgmlType::Q4_K, 12, 256, 144),
    (GgmlType::Q5_K, 13, 256, 176),
    (GgmlType::Q6_K, 14, 256, 210),
    (GgmlType::Q8_K, 15, 256, 292),
    (GgmlType::IQ2_XXS, 16, 256, 66),
    (GgmlType::IQ2_XS, 17, 256, 74),
    (GgmlType::IQ3_XXS, 18, 256, 98),
    (GgmlType::IQ1_S, 19, 256, 50),
    (GgmlType::IQ4_NL, 20, 32, 18),
    (GgmlType::IQ3_S, 21, 256, 110),
    (GgmlType::IQ2_S, 22, 256, 82),
    (GgmlType::IQ4_XS, 23, 256, 136),
    (GgmlType::I8, 24, 1, 1),
    (GgmlType::I16, 25, 1, 2),
    (GgmlType::I32, 26, 1, 4),
    (GgmlType::I64, 27, 1, 8),
    (GgmlType::F64, 28, 1, 8),
    (GgmlType::IQ1_M, 29, 256, 56),
    (GgmlType::BF16, 30, 1, 2),
    (GgmlType::TQ1_0, 34, 256, 54),
    (GgmlType::TQ2_0, 35, 256, 66),
    (GgmlType::MXFP4, 39, 32, 17),
];

impl GgmlType {
    /// The type with GGUF id `id`; ids ggml removed or never had are a format error.
    pub fn from_id(id: u32) -> Result<GgmlType> {
        TABLE
            .iter()
            .find(|row| row.1 == id)
            .map(|row| row.0)
            .ok_or_else(|| NavajaError::format(format!("unknown ggml tensor type id {id}")))
    }

    fn row(self) -> &'static (GgmlType, u32, usize, usize) {
        // Every variant has exactly one row (checked by a test).
        TABLE.iter().find(|row| row.0 == self).expect("every GgmlType is in TABLE")
    }

    pub fn id(self) -> u32 {
        self.row().1
    }

    /// Elements per block (1 for plain types, 32 or 256 for quantized ones).
    pub fn block_len(self) -> usize {
        self.row().2
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        self.row().3
    }

    /// The name ggml and llama.cpp print (`Q4_K`, `F16`...).
    pub fn name(self) -> String {
        format!("{self:?}")
    }

    /// Bytes taken by `elements` values, or `None` when `elements` is not a
    /// whole number of blocks or the size overflows.
    pub fn bytes_for(self, elements: u64) -> Option<u64> {
        let block_len = self.block_len() as u64;
        if !elements.is_multiple_of(block_len) {
            return None;
        }
        (elements / block_len).checked_mul(self.block_bytes() as u64)
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        for &(ty, id, _, _) in TABLE {
            assert_eq!(GgmlType::from_id(id).unwrap(), ty);
            assert_eq!(ty.id(), id);
            assert_eq!(TABLE.iter().filter(|r| r.0 == ty).count(), 1, "{ty}");
        }
    }

    #[test]
    fn removed_ids_are_errors() {
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 40, 1000] {
            let err = GgmlType::from_id(id).unwrap_err();
            assert!(err.to_string().contains(&format!("type id {id}")), "{err}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(GgmlType::Q4_K.bytes_for(512), Some(288));
        assert_eq!(GgmlType::Q8_0.bytes_for(64), Some(68));
        assert_eq!(GgmlType::Q8_0.bytes_for(33), None);
        assert_eq!(GgmlType::F32.bytes_for(u64::MAX), None);
    }
}
