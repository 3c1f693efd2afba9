//! The safetensors reader on small files built in memory: round trips, and
//! every kind of damage named in the error.

use navaja_core::safetensors::{SafetensorsDtype, SafetensorsFile, ShardedIndex, build_file, header_len};

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A file from a raw JSON header and data section.
fn raw(json: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(data);
    out
}

fn err(bytes: &[u8]) -> navaja_core::NavajaError {
    SafetensorsFile::parse(bytes).expect_err("should be refused")
}

#[test]
fn reads_tensors_metadata_and_values() {
    let a = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let h: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
    let b: Vec<u8> = [0.25f32, 3.0].iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect();
    let ids: Vec<u8> = [7i64, 8].iter().flat_map(|v| v.to_le_bytes()).collect();
    let file = build_file(
        &[("format", "pt")],
        &[("a", "F32", &[2, 3], &a), ("h", "F16", &[2], &h), ("b", "BF16", &[2], &b), ("ids", "I64", &[1, 2], &ids)],
    );
    let st = SafetensorsFile::parse(&file).unwrap();
    assert_eq!(st.metadata_value("format"), Some("pt"));
    assert_eq!(st.tensors.len(), 4);
    let t = st.tensor("a").unwrap();
    assert_eq!(
        (t.dtype, t.shape.as_slice(), t.n_elements, t.n_bytes()),
        (SafetensorsDtype::F32, &[2u64, 3][..], 6, 24)
    );
    assert_eq!(t.ggml_dims(), vec![3, 2]);
    assert_eq!(st.tensor_data(&file, t).unwrap(), &a[..]);
    assert_eq!(st.tensor_f32(&file, t).unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(st.tensor_f32(&file, st.tensor("h").unwrap()).unwrap(), vec![1.5, -2.0]);
    assert_eq!(st.tensor_f32(&file, st.tensor("b").unwrap()).unwrap(), vec![0.25, 3.0]);
    // I64 parses but cannot be computed with.
    let e = st.tensor_f32(&file, st.tensor("ids").unwrap()).unwrap_err();
    assert_eq!(e.code(), "unsupported-model");
    assert!(e.to_string().contains("\"ids\"") && e.to_string().contains("I64"), "{e}");
    assert_eq!(st.data_len(), 24 + 4 + 4 + 16);
}

#[test]
fn empty_and_scalar_tensors_and_padding_are_valid() {
    let json = r#"{"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}   "#;
    let file = raw(json, &f32_bytes(&[9.0]));
    let st = SafetensorsFile::parse(&file).unwrap();
    assert_eq!(st.tensor("e").unwrap().n_elements, 0);
    assert_eq!(st.tensor_f32(&file, st.tensor("s").unwrap()).unwrap(), vec![9.0]);
}

#[test]
fn unknown_dtype_is_a_format_error_and_f8_parses() {
    let e = err(&raw(r#"{"x":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}"#, &[0; 4]));
    assert_eq!(e.code(), "model-format");
    assert!(e.to_string().contains("F17"), "{e}");
    let file = raw(r#"{"x":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, &[0; 4]);
    let st = SafetensorsFile::parse(&file).unwrap();
    assert_eq!(st.tensor("x").unwrap().dtype.require_compute("x").unwrap_err().code(), "unsupported-model");
}

#[test]
fn header_length_problems_are_named() {
    assert!(err(&[1, 2, 3]).to_string().contains("8-byte header length"));
    // Claims more bytes than the file has.
    let mut f = raw("{}", &[]);
    f[0] = 200;
    assert!(err(&f).to_string().contains("truncated"), "{}", err(&f));
    // Absurd length: refused before anything is read.
    let mut f = vec![0u8; 16];
    f[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = err(&f);
    assert!(e.to_string().contains("limit"), "{e}");
    assert_eq!(header_len(&f[..8]).unwrap_err().code(), "model-format");
}

#[test]
fn header_len_tells_how_much_to_download() {
    let file = build_file(&[], &[("a", "F32", &[1], &[0; 4])]);
    assert_eq!(header_len(&file[..7]).unwrap(), None);
    let n = header_len(&file[..8]).unwrap().unwrap();
    assert_eq!(n, file.len() as u64 - 4);
}

#[test]
fn bad_json_and_bad_utf8_are_named() {
    assert!(err(&raw("{not json}", &[])).to_string().contains("not valid JSON"));
    assert!(err(&raw("[1, 2]", &[])).to_string().contains("start with '{'"));
    let mut bad = raw("{\"a\": 1}", &[]);
    bad[10] = 0xff;
    assert!(err(&bad).to_string().contains("UTF-8"), "{}", err(&bad));
    let dup =
        r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#;
    assert!(err(&raw(dup, &[0])).to_string().contains("twice"));
    let meta = r#"{"__metadata__":{"k":5}}"#;
    assert!(err(&raw(meta, &[])).to_string().contains("__metadata__"));
}

#[test]
fn size_mismatch_overlap_hole_and_out_of_bounds_are_errors() {
    let mismatch = raw(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, &[0; 4]);
    let e = err(&mismatch);
    assert!(e.to_string().contains("\"a\"") && e.to_string().contains("needs 8 bytes"), "{e}");

    let overlap = raw(
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
        &[0; 8],
    );
    assert!(err(&overlap).to_string().contains("overlaps"), "{}", err(&overlap));

    let hole = raw(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, &[0; 8]);
    assert!(err(&hole).to_string().contains("belong to no tensor"), "{}", err(&hole));

    let trailing = raw(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, &[0; 6]);
    assert!(err(&trailing).to_string().contains("trailing"), "{}", err(&trailing));

    let past = raw(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, &[0; 4]);
    assert!(err(&past).to_string().contains("past the end"), "{}", err(&past));

    let reversed = raw(r#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#, &[0; 4]);
    assert!(err(&reversed).to_string().contains("end before"), "{}", err(&reversed));

    let overflow = raw(r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, &[0; 4]);
    assert_eq!(err(&overflow).code(), "model-format");
}

#[test]
fn sharded_index_maps_tensors_and_checks_shards() {
    let json = r#"{"metadata":{"total_size":12},"weight_map":{
        "a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}"#;
    let idx = ShardedIndex::parse(json).unwrap();
    assert_eq!(idx.total_size, Some(12));
    assert_eq!(idx.shards(), ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
    assert_eq!(idx.shard_of("c"), Some("model-00002-of-00002.safetensors"));
    assert_eq!(idx.shard_of("zzz"), None);
    assert_eq!(idx.tensors_in("model-00001-of-00002.safetensors").collect::<Vec<_>>(), ["a", "b"]);

    let one = build_file(&[], &[("a", "F32", &[1], &[0; 4]), ("b", "F32", &[1], &[0; 4])]);
    let two = build_file(&[], &[("c", "F32", &[1], &[0; 4])]);
    idx.check_shard("model-00001-of-00002.safetensors", &SafetensorsFile::parse(&one).unwrap()).unwrap();
    idx.check_shard("model-00002-of-00002.safetensors", &SafetensorsFile::parse(&two).unwrap()).unwrap();
    // The second shard lacks "c" if given the first shard's file.
    let e = idx.check_shard("model-00002-of-00002.safetensors", &SafetensorsFile::parse(&one).unwrap()).unwrap_err();
    assert!(e.to_string().contains("\"c\"") && e.to_string().contains("does not contain"), "{e}");

    let evil = r#"{"weight_map":{"a":"../../etc/passwd"}}"#;
    assert!(ShardedIndex::parse(evil).unwrap_err().to_string().contains("plain file name"));
    assert!(ShardedIndex::parse(r#"{"weight_map":{"a":3}}"#).is_err());
    assert!(ShardedIndex::parse("{}").unwrap_err().to_string().contains("weight_map"));
}
