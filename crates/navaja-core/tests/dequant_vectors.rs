//! CPU dequantization against vectors made by the `gguf` PyPI package.
//!
//! `tests/fixtures/quant/make_vectors.py` (repository root) wrote random
//! ggml blocks and what `gguf.quants.dequantize` returns for them. navaja
//! must reproduce those floats *bit for bit*: both sides widen the f16
//! scales exactly and then do the same f32 multiplies and subtractions in
//! the same order (numpy never fuses them into an FMA, and neither does
//! Rust), so any difference, even one ulp, is a layout or arithmetic bug.

use navaja_core::gguf::TensorInfo;
use navaja_core::quant::GgmlType;
use navaja_core::quant::dequant::{SUPPORTED, dequantize, dequantize_tensor, is_supported};
use proptest::prelude::*;
use std::path::PathBuf;

/// Every type that has a vector file pair, i.e. every supported type.
const VECTOR_TYPES: [GgmlType; 13] = [
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

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/quant")
}

fn read_fixture(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("missing test vector {} ({e}); regenerate with tests/fixtures/quant/make_vectors.py", path.display())
    })
}

/// (block bytes, expected values) for `ty`.
fn vectors(ty: GgmlType) -> (Vec<u8>, Vec<f32>) {
    let stem = ty.name().to_lowercase();
    let blocks = read_fixture(&format!("{stem}.blocks"));
    let raw = read_fixture(&format!("{stem}.f32"));
    assert_eq!(raw.len() % 4, 0, "{stem}.f32 is not a whole number of f32");
    let expected: Vec<f32> = raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
    (blocks, expected)
}

fn all_types() -> Vec<GgmlType> {
    (0..64).filter_map(|id| GgmlType::from_id(id).ok()).collect()
}

fn tensor(name: &str, ty: GgmlType, n_elements: u64) -> TensorInfo {
    TensorInfo {
        name: name.to_string(),
        dims: vec![n_elements],
        ty,
        offset: 0,
        n_elements,
        n_bytes: ty.bytes_for(n_elements).expect("whole blocks"),
    }
}

#[test]
fn supported_types_are_exactly_the_vector_types() {
    assert_eq!(SUPPORTED, &VECTOR_TYPES);
    for ty in all_types() {
        assert_eq!(is_supported(ty), VECTOR_TYPES.contains(&ty), "{ty}");
    }
}

#[test]
fn matches_gguf_python_package_bit_for_bit() {
    let mut checked = 0;
    for ty in VECTOR_TYPES {
        let (blocks, expected) = vectors(ty);
        assert!(!expected.is_empty(), "{ty}: empty vector file");
        assert_eq!(
            ty.bytes_for(expected.len() as u64),
            Some(blocks.len() as u64),
            "{ty}: .blocks and .f32 files disagree in size"
        );
        let mut got = vec![f32::NAN; expected.len()];
        dequantize(ty, &blocks, &mut got).unwrap();
        let block_len = ty.block_len();
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert!(
                g.to_bits() == e.to_bits(),
                "{ty}: element {i} (block {}, index {} in block): navaja {g:e} ({:#010x}), gguf {e:e} ({:#010x})",
                i / block_len,
                i % block_len,
                g.to_bits(),
                e.to_bits()
            );
        }
        // The same data through the tensor entry point.
        let info = tensor("vectors", ty, expected.len() as u64);
        let via_tensor = dequantize_tensor(&info, &blocks).unwrap();
        assert!(via_tensor.iter().zip(&expected).all(|(g, e)| g.to_bits() == e.to_bits()), "{ty} via tensor");
        checked += 1;
    }
    assert_eq!(checked, 13);
}

#[test]
fn vectors_are_not_trivial() {
    // Guard against a regenerated fixture that would pass any implementation:
    // every type has many distinct values, of both signs.
    for ty in VECTOR_TYPES {
        let (_, expected) = vectors(ty);
        let mut distinct: Vec<u32> = expected.iter().map(|v| v.to_bits()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() >= 16, "{ty}: only {} distinct values", distinct.len());
        assert!(expected.iter().any(|&v| v > 0.0) && expected.iter().any(|&v| v < 0.0), "{ty}");
    }
}

#[test]
fn wrong_byte_length_is_an_error() {
    for ty in VECTOR_TYPES {
        let (blocks, expected) = vectors(ty);
        let mut out = vec![0.0f32; expected.len()];
        for bad in [&blocks[..blocks.len() - 1], &[blocks.as_slice(), &[0]].concat()[..], &[][..]] {
            let err = dequantize(ty, bad, &mut out).unwrap_err();
            assert_eq!(err.code(), "invalid-argument", "{ty}: {err}");
            assert!(err.to_string().contains(&format!("{} bytes were given", bad.len())), "{err}");
        }
        // Through the tensor entry point the message names the tensor.
        let info = tensor("blk.3.ffn_down.weight", ty, expected.len() as u64);
        let err = dequantize_tensor(&info, &blocks[1..]).unwrap_err();
        assert_eq!(err.code(), "invalid-argument", "{ty}: {err}");
        assert!(err.to_string().contains("\"blk.3.ffn_down.weight\""), "{err}");
    }
}

#[test]
fn partial_blocks_are_an_error() {
    let mut out = vec![0.0f32; 100];
    let err = dequantize(GgmlType::Q4_K, &[0; 144], &mut out).unwrap_err();
    assert_eq!(err.code(), "invalid-argument", "{err}");
    assert!(err.to_string().contains("not a whole number of Q4_K blocks"), "{err}");
}

#[test]
fn inconsistent_tensor_info_is_a_format_error() {
    let mut info = tensor("token_embd.weight", GgmlType::Q8_0, 64);
    info.n_bytes += 1;
    let err = dequantize_tensor(&info, &vec![0; info.n_bytes as usize]).unwrap_err();
    assert_eq!(err.code(), "model-format", "{err}");
    assert!(err.to_string().contains("\"token_embd.weight\"") && err.to_string().contains("Q8_0"), "{err}");

    let mut info = tensor("output.weight", GgmlType::Q4_0, 64);
    info.n_elements = 48; // not whole blocks
    let err = dequantize_tensor(&info, &[0; 36]).unwrap_err();
    assert_eq!(err.code(), "model-format", "{err}");
    assert!(err.to_string().contains("\"output.weight\""), "{err}");
}

#[test]
fn unsupported_type_names_tensor_and_type() {
    let info = tensor("blk.0.attn_q.weight", GgmlType::IQ2_XXS, 256);
    let bytes = vec![0u8; info.n_bytes as usize];
    let err = dequantize_tensor(&info, &bytes).unwrap_err();
    assert_eq!(err.code(), "unsupported-model", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(
            "tensor \"blk.0.attn_q.weight\" has type IQ2_XXS, which navaja does not support (supported: F32, F16, BF16, \
             Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)"
        ),
        "{msg}"
    );
    // The low-level call says which type, too.
    let err = dequantize(GgmlType::IQ2_XXS, &bytes, &mut [0.0; 256]).unwrap_err();
    assert_eq!(err.code(), "unsupported-model", "{err}");
    assert!(err.to_string().contains("IQ2_XXS"), "{err}");
}

#[test]
fn every_other_type_is_unsupported_not_a_panic() {
    for ty in all_types().into_iter().filter(|t| !is_supported(*t)) {
        let n = ty.block_len() as u64 * 2;
        let info = tensor("t", ty, n);
        let err = dequantize_tensor(&info, &vec![0xa5; info.n_bytes as usize]).unwrap_err();
        assert_eq!(err.code(), "unsupported-model", "{ty}: {err}");
        assert!(err.to_string().contains(&format!("has type {ty},")), "{err}");
    }
}

/// A type, an element count of 0..4 whole blocks, and that many random block bytes.
fn whole_blocks() -> impl Strategy<Value = (GgmlType, usize, Vec<u8>)> {
    (proptest::sample::select(all_types()), 0usize..4).prop_flat_map(|(ty, n_blocks)| {
        let n = n_blocks * ty.block_len();
        let len = n_blocks * ty.block_bytes();
        (Just(ty), Just(n), proptest::collection::vec(any::<u8>(), len))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes of the right length dequantize without panicking (NaN and
    /// Inf scales included); unsupported types give an error instead.
    #[test]
    fn arbitrary_blocks_never_panic((ty, n, bytes) in whole_blocks()) {
        let mut out = vec![0.0f32; n];
        let result = dequantize(ty, &bytes, &mut out);
        prop_assert_eq!(result.is_ok(), is_supported(ty), "{}: {:?}", ty, result);
        let info = tensor("p", ty, n as u64);
        prop_assert_eq!(dequantize_tensor(&info, &bytes).is_ok(), is_supported(ty));
    }

    /// Arbitrary byte strings with arbitrary output lengths: an error or a
    /// result, never a panic.
    #[test]
    fn arbitrary_lengths_never_panic(
        ty in proptest::sample::select(all_types()),
        bytes in proptest::collection::vec(any::<u8>(), 0..700),
        n in 0usize..600,
    ) {
        let mut out = vec![0.0f32; n];
        let ok = dequantize(ty, &bytes, &mut out).is_ok();
        let fits = ty.bytes_for(n as u64) == Some(bytes.len() as u64);
        prop_assert_eq!(ok, fits && is_supported(ty));
    }
}
