//! Property tests of the GGUF reader on hostile input: any byte string gives
//! a header or a typed error, never a panic, and the streaming parser agrees
//! with the whole-buffer parser however the bytes are chunked. Bounded so it
//! runs in seconds in CI.

use navaja_core::gguf::{GgufArray, GgufHeader, GgufStream, GgufValue, GgufWriter};
use navaja_core::quant::GgmlType;
use proptest::prelude::*;

fn valid_file() -> Vec<u8> {
    GgufWriter::new()
        .meta("general.architecture", GgufValue::String("llama".into()))
        .meta("llama.block_count", GgufValue::U32(1))
        .meta("tokenizer.ggml.tokens", GgufValue::Array(GgufArray::String(vec!["a".into(), "b".into()])))
        .meta("nested", GgufValue::Array(GgufArray::Array(vec![GgufArray::U16(vec![1, 2, 3])])))
        .tensor_f32("w", &[4, 2], &[0.0; 8])
        .tensor("q", &[32], GgmlType::Q8_0, vec![7; 34])
        .build()
}

fn is_typed(e: &navaja_core::NavajaError) -> bool {
    matches!(e.code(), "model-format" | "unsupported-model")
}

/// Streams `bytes` cut at `cuts`, returning the header or the first error.
fn stream(bytes: &[u8], cuts: &[usize], known_len: bool) -> navaja_core::Result<GgufHeader> {
    let mut s = GgufStream::new(known_len.then_some(bytes.len() as u64));
    let mut at = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    bounds.sort();
    bounds.push(bytes.len());
    for b in bounds {
        if b > at {
            s.push(&bytes[at..b], &mut |_| Ok(()))?;
            at = b;
        }
    }
    s.finish(&mut |_| Ok(()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = GgufHeader::parse(&bytes) {
            prop_assert!(is_typed(&e), "{e}");
        }
        if let Err(e) = stream(&bytes, &[3, 17, 100], false) {
            prop_assert!(is_typed(&e), "{e}");
        }
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_prefix_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = b"GGUF\x03\0\0\0".to_vec();
        bytes.extend_from_slice(&tail);
        if let Err(e) = GgufHeader::parse(&bytes) {
            prop_assert!(is_typed(&e), "{e}");
        }
    }

    #[test]
    fn mutated_files_parse_or_fail_cleanly_and_streaming_agrees(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        known_len in any::<bool>(),
    ) {
        let mut bytes = valid_file();
        for (at, value) in edits {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        let whole = GgufHeader::parse(&bytes);
        let streamed = stream(&bytes, &cuts, known_len);
        match (&whole, &streamed) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(e), Err(f)) => prop_assert!(is_typed(e) && is_typed(f), "{e} / {f}"),
            // Streaming without a known length cannot see that a tensor's range
            // runs past the end until finish(); both must still be typed errors.
            (Ok(_), Err(e)) | (Err(e), Ok(_)) => prop_assert!(false, "whole and streamed disagree: {e}"),
        }
    }
}
