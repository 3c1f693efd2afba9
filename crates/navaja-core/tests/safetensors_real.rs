//! The real all-MiniLM-L6-v2 checkpoint (fetched by scripts/setup.sh).
//! Expected values come from the file's own header as read by Python's json
//! module: 104 tensors (103 F32, 1 I64), a 11408-byte header.

use navaja_core::safetensors::{SafetensorsDtype, SafetensorsFile};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/all-MiniLM-L6-v2/model.safetensors");

fn read() -> Vec<u8> {
    std::fs::read(PATH).unwrap_or_else(|e| panic!("cannot read {PATH}: {e}; run scripts/setup.sh to fetch the models"))
}

#[test]
fn minilm_safetensors_parses() {
    let file = read();
    let st = SafetensorsFile::parse(&file).unwrap();
    assert_eq!(st.data_offset, 8 + 11408);
    assert_eq!(st.tensors.len(), 104);
    assert_eq!(st.tensors.iter().filter(|t| t.dtype == SafetensorsDtype::F32).count(), 103);
    assert_eq!(st.metadata_value("format"), Some("pt"));

    let emb = st.tensor("embeddings.word_embeddings.weight").unwrap();
    assert_eq!(emb.shape, [30522, 384]);
    assert_eq!(emb.data_offsets, 796672..47678464);
    let ids = st.tensor("embeddings.position_ids").unwrap();
    assert_eq!((ids.dtype, ids.shape.as_slice()), (SafetensorsDtype::I64, &[1u64, 512][..]));
    assert_eq!(st.tensor("encoder.layer.5.intermediate.dense.weight").unwrap().shape, [1536, 384]);
    assert_eq!(st.data_len() + st.data_offset, file.len() as u64);

    // LayerNorm weights of a trained model: finite, near 1 on average.
    let ln = st.tensor_f32(&file, st.tensor("embeddings.LayerNorm.weight").unwrap()).unwrap();
    assert_eq!(ln.len(), 384);
    let mean = ln.iter().sum::<f32>() / 384.0;
    assert!(ln.iter().all(|v| v.is_finite()) && (0.3..3.0).contains(&mean), "mean {mean}");
}
