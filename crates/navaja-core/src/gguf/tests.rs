//! Tests of the GGUF reader on files written by [`GgufWriter`], whole and
//! streamed, and on every kind of damage the reader must name.

use super::*;
use crate::quant::GgmlType;

fn sample() -> GgufWriter {
    GgufWriter::new()
        .meta("general.architecture", GgufValue::String("llama".into()))
        .meta("general.name", GgufValue::String("tiny ü".into()))
        .meta("u8", GgufValue::U8(7))
        .meta("i8", GgufValue::I8(-7))
        .meta("u16", GgufValue::U16(65535))
        .meta("i16", GgufValue::I16(-300))
        .meta("llama.block_count", GgufValue::U32(2))
        .meta("i32", GgufValue::I32(-5))
        .meta("u64", GgufValue::U64(1 << 40))
        .meta("i64", GgufValue::I64(-(1 << 40)))
        .meta("f32", GgufValue::F32(1.5))
        .meta("f64", GgufValue::F64(-2.25))
        .meta("bool", GgufValue::Bool(true))
        .meta("tokens", GgufValue::Array(GgufArray::String(vec!["<s>".into(), "a".into(), "Ġb".into()])))
        .meta("scores", GgufValue::Array(GgufArray::F32(vec![0.0, -1.0, -2.5])))
        .meta(
            "nested",
            GgufValue::Array(GgufArray::Array(vec![GgufArray::I32(vec![1, 2]), GgufArray::Bool(vec![false])])),
        )
        .tensor_f32("a", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        .tensor("q", &[32, 2], GgmlType::Q8_0, (0..68).map(|i| i as u8).collect())
        .tensor_f32("b", &[1], &[9.0])
}

#[test]
fn round_trips_every_value_type_and_tensor() {
    let file = sample().build();
    let h = GgufHeader::parse(&file).unwrap();
    assert_eq!(h.version, 3);
    assert_eq!(h.metadata.len(), 16);
    assert_eq!(h.metadata.require_str("general.architecture").unwrap(), "llama");
    assert_eq!(h.metadata.get_str("general.name").unwrap(), Some("tiny ü"));
    assert_eq!(h.metadata.get_u64("llama.block_count").unwrap(), Some(2));
    assert_eq!(h.metadata.get_i64("i16").unwrap(), Some(-300));
    assert_eq!(h.metadata.get_f64("f32").unwrap(), Some(1.5));
    assert_eq!(h.metadata.get_bool("bool").unwrap(), Some(true));
    assert_eq!(h.metadata.get("u64"), Some(&GgufValue::U64(1 << 40)));
    assert_eq!(
        h.metadata.get("nested"),
        Some(&GgufValue::Array(GgufArray::Array(vec![GgufArray::I32(vec![1, 2]), GgufArray::Bool(vec![false])])))
    );
    assert_eq!(h.tensors.len(), 3);
    let q = h.tensor("q").unwrap();
    assert_eq!((q.ty, q.n_elements, q.n_bytes, q.offset), (GgmlType::Q8_0, 64, 68, 32));
    assert_eq!(h.tensor_data(&file, q).unwrap(), (0..68).map(|i| i as u8).collect::<Vec<_>>());
    let a = h.tensor("a").unwrap();
    assert_eq!(a.dims, vec![3, 2]);
    assert_eq!(&h.tensor_data(&file, a).unwrap()[..8], &[0, 0, 128, 63, 0, 0, 0, 64]);
    assert_eq!(h.data_offset % 32, 0);
}

#[test]
fn typed_getters_name_the_key_and_the_found_type() {
    let h = GgufHeader::parse(&sample().build()).unwrap();
    let e = h.metadata.get_u64("general.name").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid model file: metadata key \"general.name\" should be a non-negative integer, but is string"
    );
    assert!(h.metadata.get_u64("i32").is_err(), "negative values are not u64");
    let e = h.metadata.require_u64("llama.context_length").unwrap_err();
    assert!(e.to_string().contains("\"llama.context_length\" is missing"), "{e}");
    assert!(h.metadata.get_str("tokens").unwrap_err().to_string().contains("array of 3 string"));
}

/// Streams `file` in chunks of `size` and reassembles every tensor.
fn stream_in_chunks(file: &[u8], size: usize, known_len: bool) -> (GgufHeader, Vec<Vec<u8>>) {
    let mut stream = GgufStream::new(known_len.then_some(file.len() as u64));
    let mut pieces: Vec<(usize, u64, Vec<u8>)> = Vec::new();
    for chunk in file.chunks(size) {
        stream
            .push(chunk, &mut |c| {
                pieces.push((c.tensor, c.offset, c.bytes.to_vec()));
                Ok(())
            })
            .unwrap();
    }
    let header = stream
        .finish(&mut |c| {
            pieces.push((c.tensor, c.offset, c.bytes.to_vec()));
            Ok(())
        })
        .unwrap();
    let mut tensors: Vec<Vec<u8>> = header.tensors.iter().map(|t| Vec::with_capacity(t.n_bytes as usize)).collect();
    for (t, offset, bytes) in pieces {
        assert_eq!(offset, tensors[t].len() as u64, "pieces arrive in order");
        tensors[t].extend_from_slice(&bytes);
    }
    (header, tensors)
}

#[test]
fn streaming_gives_the_same_header_and_bytes_for_any_chunking() {
    let file = sample().build();
    let whole = GgufHeader::parse(&file).unwrap();
    for size in [1, 3, 7, 64, 100, 4096, file.len()] {
        for known_len in [true, false] {
            let (header, tensors) = stream_in_chunks(&file, size, known_len);
            assert_eq!(header, whole, "chunk size {size}");
            for (t, bytes) in whole.tensors.iter().zip(&tensors) {
                assert_eq!(bytes.as_slice(), whole.tensor_data(&file, t).unwrap(), "tensor {} chunk {size}", t.name);
            }
        }
    }
}

#[test]
fn streaming_parses_a_big_header_a_few_times_only() {
    // 200k tokens in one-byte chunks: retries double, so this stays fast.
    let tokens: Vec<String> = (0..200_000).map(|i| format!("tok{i}")).collect();
    let file = GgufWriter::new().meta("tokens", GgufValue::Array(GgufArray::String(tokens))).build();
    let start = std::time::Instant::now();
    let (header, _) = stream_in_chunks(&file, 1, false);
    assert_eq!(header.metadata.get_array("tokens").unwrap().unwrap().len(), 200_000);
    assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
}

fn err_of(file: &[u8]) -> String {
    let e = GgufHeader::parse(file).unwrap_err();
    assert!(matches!(e.code(), "model-format" | "unsupported-model"), "{e}");
    e.to_string()
}

#[test]
fn wrong_magic() {
    let mut file = sample().build();
    file[..4].copy_from_slice(b"GGML");
    assert!(err_of(&file).contains("not a GGUF file: the magic is \"GGML\""));
    assert!(err_of(b"").contains("truncated GGUF: the magic needs 4 bytes"));
}

#[test]
fn versions() {
    let mut file = sample().build();
    file[4..8].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(GgufHeader::parse(&file).unwrap().version, 2);
    file[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert!(err_of(&file).contains("GGUF version 1"));
    file[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert!(err_of(&file).contains("big-endian"));
    file[4..8].copy_from_slice(&9u32.to_le_bytes());
    assert!(err_of(&file).contains("version 9 is not supported"));
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let file = sample().build();
    let header_end = GgufHeader::parse(&file).unwrap().data_offset as usize;
    for len in 0..file.len() {
        let msg = err_of(&file[..len]);
        if len < header_end - 32 {
            assert!(msg.contains("truncated GGUF"), "prefix {len}: {msg}");
        } else {
            assert!(msg.contains("truncated") || msg.contains("past the end of the file"), "prefix {len}: {msg}");
        }
    }
}

#[test]
fn streamed_truncation_names_the_tensor() {
    let file = sample().build();
    let mut stream = GgufStream::new(None);
    stream.push(&file[..file.len() - 1], &mut |_| Ok(())).unwrap();
    let e = stream.finish(&mut |_| Ok(())).unwrap_err().to_string();
    assert!(e.contains("inside tensor \"b\""), "{e}");

    let mut stream = GgufStream::new(None);
    stream.push(&file[..20], &mut |_| Ok(())).unwrap();
    let e = stream.finish(&mut |_| Ok(())).unwrap_err().to_string();
    assert!(e.contains("truncated GGUF: the metadata count needs 8 bytes at offset 16"), "{e}");
}

/// Byte offset of the u32 type id of tensor `name` in a file from `sample()`.
fn tensor_type_offset(file: &[u8], name: &str) -> usize {
    let needle = [&(name.len() as u64).to_le_bytes()[..], name.as_bytes()].concat();
    let pos = file.windows(needle.len()).position(|w| w == needle.as_slice()).unwrap() + needle.len();
    let n_dims = u32::from_le_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
    pos + 4 + 8 * n_dims
}

#[test]
fn unknown_tensor_type() {
    let mut file = sample().build();
    let at = tensor_type_offset(&file, "q");
    file[at..at + 4].copy_from_slice(&77u32.to_le_bytes());
    assert!(err_of(&file).contains("tensor \"q\" has unknown ggml type id 77"));
}

#[test]
fn tensor_range_past_the_end() {
    let mut file = sample().build();
    let at = tensor_type_offset(&file, "b") + 4;
    file[at..at + 8].copy_from_slice(&(1u64 << 20).to_le_bytes());
    let msg = err_of(&file);
    assert!(msg.contains("tensor \"b\" spans bytes") && msg.contains("past the end of the file"), "{msg}");
}

#[test]
fn overlapping_tensors() {
    let mut file = sample().build();
    let at = tensor_type_offset(&file, "b") + 4;
    file[at..at + 8].copy_from_slice(&0u64.to_le_bytes()); // on top of "a"
    let msg = err_of(&file);
    assert!(msg.contains("overlap") && msg.contains("\"a\"") && msg.contains("\"b\""), "{msg}");
}

#[test]
fn misaligned_tensor_and_bad_alignment() {
    let mut file = sample().build();
    let at = tensor_type_offset(&file, "b") + 4;
    let old = u64::from_le_bytes(file[at..at + 8].try_into().unwrap());
    file[at..at + 8].copy_from_slice(&(old + 4).to_le_bytes());
    assert!(err_of(&file).contains("not a multiple of the alignment 32"));

    let file = GgufWriter::new().alignment(24).tensor_f32("x", &[1], &[1.0]).build();
    assert!(err_of(&file).contains("general.alignment must be a power of two"));
    let file = GgufWriter::new().alignment(64).tensor_f32("x", &[2], &[1.0, 2.0]).tensor_f32("y", &[1], &[3.0]).build();
    let h = GgufHeader::parse(&file).unwrap();
    assert_eq!((h.alignment, h.tensor("y").unwrap().offset, h.data_offset % 64), (64, 64, 0));
}

#[test]
fn absurd_counts_do_not_allocate() {
    // A header claiming 2^60 tensors / metadata entries / array elements /
    // string bytes: refused at once, in both modes, without allocating.
    let mut head = b"GGUF".to_vec();
    head.extend_from_slice(&3u32.to_le_bytes());
    let mut tensors = head.clone();
    tensors.extend_from_slice(&(1u64 << 60).to_le_bytes());
    tensors.extend_from_slice(&0u64.to_le_bytes());
    assert!(err_of(&tensors).contains("1152921504606846976 tensor infos"));

    let mut kvs = head.clone();
    kvs.extend_from_slice(&0u64.to_le_bytes());
    kvs.extend_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(err_of(&kvs).contains("metadata entries"));

    let big_array = GgufWriter::new().meta("a", GgufValue::Array(GgufArray::F32(vec![1.0]))).build();
    let mut arr = big_array.clone();
    let len_at = arr.windows(8).position(|w| w == 1u64.to_le_bytes()).unwrap();
    // The first u64 equal to 1 is the kv count; the array length follows its element type later.
    let len_at = arr[len_at + 8..]
        .windows(12)
        .position(|w| w[..4] == 6u32.to_le_bytes() && w[4..] == 1u64.to_le_bytes())
        .unwrap()
        + len_at
        + 8
        + 4;
    arr[len_at..len_at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(err_of(&arr).contains("1152921504606846976 elements"));

    let mut stream = GgufStream::new(None);
    let e = stream.push(&arr, &mut |_| Ok(())).unwrap_err().to_string();
    assert!(e.contains("claims at least"), "{e}");
    let mut stream = GgufStream::new(None);
    let e = stream.push(&tensors, &mut |_| Ok(())).unwrap_err().to_string();
    assert!(e.contains("claims at least"), "{e}");
}

#[test]
fn duplicate_keys_and_tensor_names() {
    let file = GgufWriter::new().meta("k", GgufValue::U8(1)).meta("k", GgufValue::U8(2)).build();
    assert!(err_of(&file).contains("metadata key \"k\" appears twice"));
    let file = GgufWriter::new().tensor_f32("t", &[1], &[1.0]).tensor_f32("t", &[1], &[2.0]).build();
    assert!(err_of(&file).contains("tensor name \"t\" appears twice"));
}

#[test]
fn bad_dimensions() {
    let file = GgufWriter::new().tensor("q", &[33], GgmlType::Q8_0, vec![0; 34]).build();
    assert!(err_of(&file).contains("row length 33 is not a multiple of the Q8_0 block size 32"));
    let file = GgufWriter::new().tensor("t", &[1 << 40, 1 << 40], GgmlType::F32, vec![]).build();
    assert!(err_of(&file).contains("absurd dimensions"));
    let file = GgufWriter::new().tensor("t", &[1, 1, 1, 1, 1], GgmlType::F32, vec![0; 4]).build();
    assert!(err_of(&file).contains("5 dimensions"));
}

#[test]
fn invalid_utf8_and_bool() {
    let mut file = GgufWriter::new().meta("k", GgufValue::String("abc".into())).build();
    let at = file.windows(3).position(|w| w == b"abc").unwrap();
    file[at] = 0xff;
    assert!(err_of(&file).contains("metadata \"k\" is not valid UTF-8"));
    let mut file = GgufWriter::new().meta("flag", GgufValue::Bool(true)).build();
    let last = file.len() - 1;
    file[last] = 2;
    assert!(err_of(&file).contains("invalid byte 2"));
}
