//! Random tensor data in any type navaja dequantizes: random quant bytes
//! with f16 scales chosen so that the values come out about `±scale`,
//! centred on zero, like real weights (activations then stay O(1)).

use crate::generate::Rng;
use crate::quant::GgmlType;
use crate::quant::dequant::is_supported;
use crate::{NavajaError, Result};

/// `n_elements` random values of type `ty`, encoded as in a GGUF file.
///
/// Plain types are uniform in `[-scale, scale)` (rms 0.58 scale). Quantized
/// blocks get random bytes (random quants, sub-block scales and mins), then
/// their f16 scale fields are set so that the rms is about the same (varying
/// by ±30% from block to block; peaks reach 2 to 4 times `scale`) and their
/// `min` fields so that the values centre on zero.
/// Errors when `ty` is not a type navaja dequantizes or `n_elements` is not
/// a whole number of its blocks.
pub fn random_blocks(ty: GgmlType, n_elements: usize, rng: &mut Rng, scale: f32) -> Result<Vec<u8>> {
    if !is_supported(ty) {
        return Err(NavajaError::unsupported(format!("random_blocks: navaja cannot dequantize {ty}")));
    }
    let n_bytes = ty.bytes_for(n_elements as u64).ok_or_else(|| {
        NavajaError::invalid(format!(
            "random_blocks: {n_elements} elements are not a whole number of {ty} blocks of {}",
            ty.block_len()
        ))
    })? as usize;
    let mut out = vec![0u8; n_bytes];
    match ty {
        GgmlType::F32 => {
            for v in out.chunks_exact_mut(4) {
                v.copy_from_slice(&rng.uniform(-scale, scale).to_le_bytes());
            }
        }
        GgmlType::F16 => {
            for v in out.chunks_exact_mut(2) {
                v.copy_from_slice(&half::f16::from_f32(rng.uniform(-scale, scale)).to_le_bytes());
            }
        }
        GgmlType::BF16 => {
            for v in out.chunks_exact_mut(2) {
                v.copy_from_slice(&half::bf16::from_f32(rng.uniform(-scale, scale)).to_le_bytes());
            }
        }
        _ => {
            rng.fill_bytes(&mut out);
            for block in out.chunks_exact_mut(ty.block_bytes()) {
                let d = scale * rng.uniform(0.35, 0.65);
                set_scales(ty, block, d);
            }
        }
    }
    Ok(out)
}

/// Overwrites the f16 fields of one quantized block (layouts of ggml-common.h).
/// `m` is the typical magnitude wanted: `d` is `m` over the typical size of
/// (sub-block scale x quant), and `dmin` offsets the mean of the unsigned quants.
fn set_scales(ty: GgmlType, block: &mut [u8], m: f32) {
    let mut put = |at: usize, v: f32| block[at..at + 2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
    match ty {
        // (q - 8) * d, q in 0..16
        GgmlType::Q4_0 => put(0, m / 4.0),
        // q * d + min, q in 0..16
        GgmlType::Q4_1 => {
            put(0, m / 4.0);
            put(2, -7.5 * m / 4.0);
        }
        // (q - 16) * d, q in 0..32
        GgmlType::Q5_0 => put(0, m / 8.0),
        GgmlType::Q5_1 => {
            put(0, m / 8.0);
            put(2, -15.5 * m / 8.0);
        }
        // q * d, q in -128..128
        GgmlType::Q8_0 => put(0, m / 64.0),
        // d * sc * q - dmin * mn; sc, mn in 0..16, q in 0..4
        GgmlType::Q2_K => {
            put(80, m / 11.25);
            put(82, 1.5 * m / 11.25);
        }
        // d * (sc - 32) * q, sc in 0..64, q in -4..4
        GgmlType::Q3_K => put(108, m / 32.0),
        // d * sc * q - dmin * mn; sc, mn in 0..64, q in 0..16
        GgmlType::Q4_K => {
            put(0, m / 236.0);
            put(2, 7.5 * m / 236.0);
        }
        // q in 0..32
        GgmlType::Q5_K => {
            put(0, m / 488.0);
            put(2, 15.5 * m / 488.0);
        }
        // d * sc * (q - 32), sc in -128..128, q in 0..64
        GgmlType::Q6_K => put(208, m / 1024.0),
        // Plain types never reach here; Q5_1 above covers the last legacy type.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::dequant::{SUPPORTED, dequantize};

    #[test]
    fn values_are_about_scale_and_centred() {
        let scale = 0.5f32;
        let s = f64::from(scale);
        for &ty in SUPPORTED {
            let mut rng = Rng::new(ty.id().into());
            let n = 256 * 64;
            let bytes = random_blocks(ty, n, &mut rng, scale).unwrap();
            let mut v = vec![0f32; n];
            dequantize(ty, &bytes, &mut v).unwrap();
            assert!(v.iter().all(|x| x.is_finite()), "{ty}");
            let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
            let rms = (v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / n as f64).sqrt();
            let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
            // Uniform ±scale has rms 0.577 scale.
            assert!((0.45 * s..=0.75 * s).contains(&rms), "{ty}: rms {rms}");
            assert!(mean.abs() < 0.15 * s, "{ty}: mean {mean}");
            assert!(max <= 3.0 * scale, "{ty}: max |v| {max}");
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let mut rng = Rng::new(0);
        assert!(random_blocks(GgmlType::Q4_K, 100, &mut rng, 1.0).is_err());
        assert!(random_blocks(GgmlType::IQ2_XS, 256, &mut rng, 1.0).is_err());
        assert_eq!(random_blocks(GgmlType::Q8_0, 64, &mut rng, 1.0).unwrap().len(), 68);
    }
}
