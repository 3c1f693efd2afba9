//! Fuzzing the safetensors reader: arbitrary bytes and mutations of a valid
//! file must give `Ok` or a typed error, never a panic.

use navaja_core::safetensors::{SafetensorsFile, ShardedIndex, build_file, header_len};
use proptest::prelude::*;

fn valid() -> Vec<u8> {
    build_file(
        &[("format", "pt")],
        &[("w", "F32", &[2, 2], &[0u8; 16]), ("b", "BF16", &[3], &[1u8; 6]), ("i", "I64", &[1], &[2u8; 8])],
    )
}

fn exercise(bytes: &[u8]) {
    let _ = header_len(bytes);
    if let Ok(st) = SafetensorsFile::parse(bytes) {
        for t in &st.tensors {
            let data = st.tensor_data(bytes, t).expect("a parsed tensor lies inside its file");
            assert_eq!(data.len() as u64, t.n_bytes());
            let _ = st.tensor_f32(bytes, t);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_json_headers_never_panic(json in "\\{[ -~]{0,120}\\}", data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut f = (json.len() as u64).to_le_bytes().to_vec();
        f.extend_from_slice(json.as_bytes());
        f.extend_from_slice(&data);
        exercise(&f);
        let _ = ShardedIndex::parse(&json);
    }

    #[test]
    fn mutated_valid_files_never_panic(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                                       cut in any::<prop::sample::Index>()) {
        let mut f = valid();
        for (at, byte) in edits {
            let i = at.index(f.len());
            f[i] = byte;
        }
        exercise(&f);
        let n = cut.index(f.len() + 1);
        exercise(&f[..n]);
    }
}
