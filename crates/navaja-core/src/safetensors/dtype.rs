//! safetensors element types: every dtype string the format defines is known,
//! so any valid file parses (and `navaja inspect` can list it); only F32, F16
//! and BF16 can be computed with, and asking for another is `unsupported-model`.

use serde::Serialize;

use crate::{NavajaError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[allow(non_camel_case_types)]
pub enum SafetensorsDtype {
    BOOL,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    F8_E8M0,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
    /// Sub-byte floats (newer safetensors versions): packed, 4 or 6 bits each.
    F4,
    F6_E2M3,
    F6_E3M2,
}

/// (dtype, name in the header, bits per element)
const TABLE: &[(SafetensorsDtype, &str, u64)] = &[
    (SafetensorsDtype::BOOL, "BOOL", 8),
    (SafetensorsDtype::U8, "U8", 8),
    (SafetensorsDtype::I8, "I8", 8),
    (SafetensorsDtype::F8_E5M2, "F8_E5M2", 8),
    (SafetensorsDtype::F8_E4M3, "F8_E4M3", 8),
    (SafetensorsDtype::F8_E8M0, "F8_E8M0", 8),
    (SafetensorsDtype::I16, "I16", 16),
    (SafetensorsDtype::U16, "U16", 16),
    (SafetensorsDtype::F16, "F16", 16),
    (SafetensorsDtype::BF16, "BF16", 16),
    (SafetensorsDtype::I32, "I32", 32),
    (SafetensorsDtype::U32, "U32", 32),
    (SafetensorsDtype::F32, "F32", 32),
    (SafetensorsDtype::F64, "F64", 64),
    (SafetensorsDtype::I64, "I64", 64),
    (SafetensorsDtype::U64, "U64", 64),
    (SafetensorsDtype::F4, "F4", 4),
    (SafetensorsDtype::F6_E2M3, "F6_E2M3", 6),
    (SafetensorsDtype::F6_E3M2, "F6_E3M2", 6),
];

impl SafetensorsDtype {
    /// The dtype named `s` in a header; an unknown name is a format error.
    pub fn parse(s: &str) -> Result<SafetensorsDtype> {
        TABLE.iter().find(|row| row.1 == s).map(|row| row.0).ok_or_else(|| {
            NavajaError::format(format!(
                "unknown safetensors dtype {s:?} (known: {})",
                TABLE.iter().map(|row| row.1).collect::<Vec<_>>().join(", ")
            ))
        })
    }

    fn row(self) -> &'static (SafetensorsDtype, &'static str, u64) {
        // Every variant has a row (checked by a test), so the fallback is never used.
        TABLE.iter().find(|row| row.0 == self).unwrap_or(&TABLE[0])
    }

    /// The name the header uses (`"BF16"`).
    pub fn name(self) -> &'static str {
        self.row().1
    }

    pub fn bits(self) -> u64 {
        self.row().2
    }

    /// Bytes taken by `elements` values, or `None` when that overflows or a
    /// sub-byte type does not fill whole bytes.
    pub fn bytes_for(self, elements: u64) -> Option<u64> {
        let bits = elements.checked_mul(self.bits())?;
        (bits % 8 == 0).then_some(bits / 8)
    }

    /// Whether navaja computes with this type (F32, F16, BF16).
    pub fn is_compute_supported(self) -> bool {
        matches!(self, SafetensorsDtype::F32 | SafetensorsDtype::F16 | SafetensorsDtype::BF16)
    }

    /// `unsupported-model` naming the tensor and the type when navaja cannot compute with it.
    pub fn require_compute(self, tensor: &str) -> Result<()> {
        if self.is_compute_supported() {
            Ok(())
        } else {
            Err(NavajaError::unsupported(format!(
                "tensor {tensor:?} has dtype {}; navaja computes with F32, F16 and BF16 only",
                self.name()
            )))
        }
    }
}

impl std::fmt::Display for SafetensorsDtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
