//! The GGUF reader on the real model files fetched by scripts/setup.sh.
//! Missing files fail the test: these checks are never skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use navaja_core::gguf::{GgufHeader, GgufStream};
use navaja_core::quant::GgmlType;

fn model(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh to fetch the models", path.display()))
}

fn type_counts(h: &GgufHeader) -> BTreeMap<GgmlType, usize> {
    let mut counts = BTreeMap::new();
    for t in &h.tensors {
        *counts.entry(t.ty).or_default() += 1;
    }
    counts
}

#[test]
fn smollm2_header() {
    let file = model("SmolLM2-135M-Instruct.Q4_1.gguf");
    let h = GgufHeader::parse(&file).unwrap();
    assert_eq!(h.version, 3);
    assert_eq!(h.metadata.require_str("general.architecture").unwrap(), "llama");
    assert_eq!(h.metadata.get_u64("llama.block_count").unwrap(), Some(30));
    assert_eq!(h.metadata.get_u64("llama.embedding_length").unwrap(), Some(576));
    assert_eq!(h.metadata.get_array("tokenizer.ggml.tokens").unwrap().unwrap().len(), 49152);
    let types = type_counts(&h);
    assert_eq!(types.keys().copied().collect::<Vec<_>>(), vec![GgmlType::F32, GgmlType::Q4_1, GgmlType::Q8_0]);
    // Every byte of the file is header, padding or a tensor.
    let end = h.tensors_end();
    assert_eq!(end, file.len() as u64);
    let embd = h.tensor("token_embd.weight").unwrap();
    assert_eq!(embd.dims, vec![576, 49152]);
}

#[test]
fn gemma3_header_with_k_quants() {
    let file = model("gemma-3-270m-q4_k_m.gguf");
    let h = GgufHeader::parse(&file).unwrap();
    assert_eq!(h.metadata.require_str("general.architecture").unwrap(), "gemma3");
    assert_eq!(h.metadata.get_array("tokenizer.ggml.tokens").unwrap().unwrap().len(), 262144);
    let types = type_counts(&h);
    for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::F32] {
        assert!(types.contains_key(&ty), "expected {ty} tensors, found {types:?}");
    }
}

#[test]
fn streaming_the_real_file_gives_the_same_header_and_every_tensor_byte() {
    let file = model("SmolLM2-135M-Instruct.Q4_1.gguf");
    let whole = GgufHeader::parse(&file).unwrap();
    let mut stream = GgufStream::new(None);
    let mut delivered = vec![0u64; whole.tensors.len()];
    let mut checksum_ok = true;
    let mut sink = |c: navaja_core::gguf::TensorChunk<'_>| {
        let t = &whole.tensors[c.tensor];
        let start = (t.file_range(whole.data_offset).start + c.offset) as usize;
        checksum_ok &= c.bytes == &file[start..start + c.bytes.len()];
        delivered[c.tensor] += c.bytes.len() as u64;
        Ok(())
    };
    for chunk in file.chunks(65536 + 7) {
        stream.push(chunk, &mut sink).unwrap();
    }
    let header = stream.finish(&mut sink).unwrap();
    assert_eq!(header, whole);
    assert!(checksum_ok, "a streamed piece differs from the file");
    for (t, n) in whole.tensors.iter().zip(delivered) {
        assert_eq!(n, t.n_bytes, "tensor {}", t.name);
    }
}
