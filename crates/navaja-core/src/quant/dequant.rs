//! CPU reference dequantization: ggml blocks to f32.
//!
//! Byte layouts are exactly ggml's (`ggml-common.h`), so tensors are read
//! straight out of a GGUF file, and the arithmetic follows ggml's reference
//! `dequantize_row_*` operation for operation (f16 scales widened to f32,
//! then the same multiplies and subtractions in the same order, never fused),
//! which makes the result bit-identical to ggml's and to the `gguf` Python
//! package's. GPU kernels are tested against this code.
//!
//! - plain types (F32, F16, BF16): here;
//! - 32-element legacy blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): [`super::legacy`];
//! - 256-element K-quant super-blocks (Q2_K ... Q6_K): [`super::kquants`].
//!
//! Every other type is an `unsupported-model` error, never a panic.

use super::types::GgmlType;
use super::{kquants, legacy};
use crate::gguf::TensorInfo;
use crate::{NavajaError, Result};

/// The types navaja can dequantize, in the order error messages list them.
pub const SUPPORTED: &[GgmlType] = &[
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Whether [`dequantize`] handles `ty`.
pub fn is_supported(ty: GgmlType) -> bool {
    SUPPORTED.contains(&ty)
}

fn supported_list() -> String {
    SUPPORTED.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
}

/// Dequantizes `out.len()` elements of type `ty` from `bytes` into `out`.
///
/// `bytes` must hold exactly those elements: `ty.bytes_for(out.len())`
/// bytes, so `out.len()` is a whole number of blocks. Otherwise, or when
/// `ty` is not [supported](SUPPORTED), this returns an error and leaves
/// `out` untouched.
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    if !is_supported(ty) {
        return Err(NavajaError::unsupported(format!(
            "navaja cannot dequantize type {ty} (supported: {})",
            supported_list()
        )));
    }
    let n = out.len() as u64;
    let Some(needed) = ty.bytes_for(n) else {
        return Err(NavajaError::invalid(format!(
            "{n} elements are not a whole number of {ty} blocks of {} elements",
            ty.block_len()
        )));
    };
    if bytes.len() as u64 != needed {
        return Err(NavajaError::invalid(format!(
            "{n} elements of type {ty} take {needed} bytes, but {} bytes were given",
            bytes.len()
        )));
    }
    match ty {
        GgmlType::F32 => each_block(bytes, out, |b: &[u8; 4], y: &mut [f32; 1]| y[0] = f32::from_le_bytes(*b)),
        GgmlType::F16 => each_block(bytes, out, |b: &[u8; 2], y: &mut [f32; 1]| y[0] = f16_to_f32(*b)),
        GgmlType::BF16 => each_block(bytes, out, |b: &[u8; 2], y: &mut [f32; 1]| y[0] = bf16_to_f32(*b)),
        GgmlType::Q4_0 => each_block(bytes, out, legacy::q4_0),
        GgmlType::Q4_1 => each_block(bytes, out, legacy::q4_1),
        GgmlType::Q5_0 => each_block(bytes, out, legacy::q5_0),
        GgmlType::Q5_1 => each_block(bytes, out, legacy::q5_1),
        GgmlType::Q8_0 => each_block(bytes, out, legacy::q8_0),
        GgmlType::Q2_K => each_block(bytes, out, kquants::q2_k),
        GgmlType::Q3_K => each_block(bytes, out, kquants::q3_k),
        GgmlType::Q4_K => each_block(bytes, out, kquants::q4_k),
        GgmlType::Q5_K => each_block(bytes, out, kquants::q5_k),
        GgmlType::Q6_K => each_block(bytes, out, kquants::q6_k),
        // Excluded by `is_supported` above; kept as an error rather than a panic.
        _ => return Err(NavajaError::unsupported(format!("navaja cannot dequantize type {ty}"))),
    }
    Ok(())
}

/// Dequantizes a whole GGUF tensor whose data is `bytes`.
///
/// Errors name the tensor and its type: `unsupported-model` when navaja
/// cannot compute with the type, `model-format` when the tensor's own sizes
/// disagree, `invalid-argument` when `bytes` is not the tensor's data size.
pub fn dequantize_tensor(info: &TensorInfo, bytes: &[u8]) -> Result<Vec<f32>> {
    let (name, ty) = (&info.name, info.ty);
    if !is_supported(ty) {
        return Err(NavajaError::unsupported(format!(
            "tensor \"{name}\" has type {ty}, which navaja does not support (supported: {})",
            supported_list()
        )));
    }
    if ty.bytes_for(info.n_elements) != Some(info.n_bytes) {
        return Err(NavajaError::format(format!(
            "tensor \"{name}\" of type {ty} claims {} elements in {} bytes, which do not match",
            info.n_elements, info.n_bytes
        )));
    }
    if bytes.len() as u64 != info.n_bytes {
        return Err(NavajaError::invalid(format!(
            "tensor \"{name}\" of type {ty} has {} bytes of data, but {} bytes were given",
            info.n_bytes,
            bytes.len()
        )));
    }
    // The checks above bound n_elements by the bytes actually in memory
    // (at most 2 elements per byte, for F16/BF16), so this allocation is sane.
    let n = usize::try_from(info.n_elements).map_err(|_| {
        NavajaError::format(format!("tensor \"{name}\" has {} elements, too many for this platform", info.n_elements))
    })?;
    let mut out = vec![0.0f32; n];
    dequantize(ty, bytes, &mut out).map_err(|e| match e {
        NavajaError::InvalidArgument(msg) => NavajaError::format(format!("tensor \"{name}\": {msg}")),
        other => other,
    })?;
    Ok(out)
}

/// Runs `block` over each `B`-byte block of `bytes` and the `N` outputs it
/// fills. The caller has checked that both slices hold the same number of
/// whole blocks.
fn each_block<const B: usize, const N: usize>(bytes: &[u8], out: &mut [f32], block: impl Fn(&[u8; B], &mut [f32; N])) {
    for (b, y) in bytes.chunks_exact(B).zip(out.chunks_exact_mut(N)) {
        // `chunks_exact` yields slices of exactly B and N items, so both
        // conversions always succeed.
        if let (Ok(b), Ok(y)) = (<&[u8; B]>::try_from(b), <&mut [f32; N]>::try_from(y)) {
            block(b, y);
        }
    }
}

/// IEEE half (binary16), little-endian, widened exactly to f32.
pub(crate) fn f16_to_f32(b: [u8; 2]) -> f32 {
    half::f16::from_le_bytes(b).to_f32()
}

/// The f16 at byte `at` of a block.
pub(crate) fn f16_at(b: &[u8], at: usize) -> f32 {
    f16_to_f32([b[at], b[at + 1]])
}

/// bfloat16, little-endian: the top 16 bits of an f32.
pub(crate) fn bf16_to_f32(b: [u8; 2]) -> f32 {
    f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_types() {
        let mut out = [0.0f32; 2];
        dequantize(GgmlType::F32, &[0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0], &mut out).unwrap();
        assert_eq!(out, [1.0, -2.0]);
        // f16 0x3c00 = 1.0, 0xc500 = -5.0
        dequantize(GgmlType::F16, &[0x00, 0x3c, 0x00, 0xc5], &mut out).unwrap();
        assert_eq!(out, [1.0, -5.0]);
        // bf16 0x3fc0 = 1.5, 0xc040 = -3.0
        dequantize(GgmlType::BF16, &[0xc0, 0x3f, 0x40, 0xc0], &mut out).unwrap();
        assert_eq!(out, [1.5, -3.0]);
    }

    #[test]
    fn f16_subnormal_is_exact() {
        assert_eq!(f16_to_f32([0x01, 0x00]), 2f32.powi(-24));
    }

    #[test]
    fn supported_list_is_in_order() {
        assert_eq!(supported_list(), "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K");
    }

    #[test]
    fn empty_input_is_fine() {
        for &ty in SUPPORTED {
            dequantize(ty, &[], &mut []).unwrap();
        }
    }

    #[test]
    fn partial_block_is_invalid() {
        let mut out = [0.0f32; 16];
        let err = dequantize(GgmlType::Q8_0, &[0; 17], &mut out).unwrap_err();
        assert_eq!(err.code(), "invalid-argument", "{err}");
        assert!(err.to_string().contains("whole number of Q8_0 blocks"), "{err}");
    }

    #[test]
    fn error_leaves_output_untouched() {
        let mut out = [7.0f32; 32];
        assert!(dequantize(GgmlType::Q8_0, &[0; 33], &mut out).is_err());
        assert!(out.iter().all(|&v| v == 7.0));
    }
}
