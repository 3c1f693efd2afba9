//! The safetensors header: parsing the JSON directory and checking every
//! tensor's byte range against the data section.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use serde::Serialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::dtype::SafetensorsDtype;
use crate::{NavajaError, Result};

/// Largest header accepted. The reference implementation refuses headers over
/// 100 MB for the same reason: a corrupt length must not make us allocate or
/// parse gigabytes. Real headers are kilobytes (a 400-tensor model: ~40 KB).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Bytes before the JSON: its length, a little-endian u64.
const LEN_BYTES: usize = 8;

/// One tensor of a safetensors file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SafetensorsTensor {
    pub name: String,
    pub dtype: SafetensorsDtype,
    /// Row-major (PyTorch) order: the last dimension is contiguous, the
    /// reverse of ggml's `dims`.
    pub shape: Vec<u64>,
    /// Byte range relative to the start of the data section.
    pub data_offsets: Range<u64>,
    pub n_elements: u64,
}

impl SafetensorsTensor {
    pub fn n_bytes(&self) -> u64 {
        self.data_offsets.end - self.data_offsets.start
    }

    /// The shape in ggml order (`dims[0]` contiguous), to compare with GGUF tensors.
    pub fn ggml_dims(&self) -> Vec<u64> {
        self.shape.iter().rev().copied().collect()
    }
}

/// The parsed header of a complete safetensors file.
#[derive(Debug, Clone, PartialEq)]
pub struct SafetensorsFile {
    /// `__metadata__`, sorted by key (free-form string pairs, e.g. `format: pt`).
    pub metadata: Vec<(String, String)>,
    /// Tensors in header order.
    pub tensors: Vec<SafetensorsTensor>,
    /// Absolute offset of the data section (8 + header length).
    pub data_offset: u64,
    index: HashMap<String, usize>,
}

/// How many bytes of a file are needed before its header can be parsed:
/// `None` while fewer than 8 bytes are in, then `8 + header length`. Lets a
/// browser download just the header with a range request.
pub fn header_len(prefix: &[u8]) -> Result<Option<u64>> {
    let Some(len_bytes) = prefix.get(..LEN_BYTES) else {
        return Ok(None);
    };
    let mut buf = [0u8; LEN_BYTES];
    buf.copy_from_slice(len_bytes);
    let n = u64::from_le_bytes(buf);
    if n > MAX_HEADER_BYTES {
        return Err(NavajaError::format(format!(
            "safetensors header length {n} is larger than the {MAX_HEADER_BYTES}-byte limit: \
             not a safetensors file, or a corrupt one"
        )));
    }
    if n < 2 {
        return Err(NavajaError::format(format!("safetensors header length {n} is too small to hold a JSON object")));
    }
    Ok(Some(LEN_BYTES as u64 + n))
}

impl SafetensorsFile {
    /// Parses and checks the header of a complete file: every tensor's byte
    /// range must match its shape and dtype, and together the ranges must
    /// cover the data section exactly (no overlaps, no holes, nothing past the
    /// end), as the format requires.
    pub fn parse(file: &[u8]) -> Result<SafetensorsFile> {
        let Some(needed) = header_len(file)? else {
            return Err(NavajaError::format(format!(
                "a safetensors file starts with an 8-byte header length, but this one has only {} bytes",
                file.len()
            )));
        };
        let json = file.get(LEN_BYTES..needed as usize).ok_or_else(|| {
            NavajaError::format(format!(
                "the safetensors header claims {} bytes, but the file has only {} after the length: \
                 the file is truncated or not safetensors",
                needed - LEN_BYTES as u64,
                file.len().saturating_sub(LEN_BYTES)
            ))
        })?;
        let parsed = parse_header_json(json)?;
        let data_len = file.len() as u64 - needed;
        check_coverage(&parsed.tensors, data_len)?;
        let index = parsed.tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        Ok(SafetensorsFile { metadata: parsed.metadata, tensors: parsed.tensors, data_offset: needed, index })
    }

    pub fn tensor(&self, name: &str) -> Option<&SafetensorsTensor> {
        self.index.get(name).and_then(|&i| self.tensors.get(i))
    }

    /// Like [`SafetensorsFile::tensor`], but a missing tensor is a format error naming it.
    pub fn require_tensor(&self, name: &str) -> Result<&SafetensorsTensor> {
        self.tensor(name).ok_or_else(|| NavajaError::format(format!("tensor {name:?} is not in the safetensors file")))
    }

    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The bytes of `tensor` inside the complete `file` this header was parsed
    /// from; borrowed, never copied.
    pub fn tensor_data<'a>(&self, file: &'a [u8], tensor: &SafetensorsTensor) -> Result<&'a [u8]> {
        let start = self.data_offset.checked_add(tensor.data_offsets.start);
        let end = self.data_offset.checked_add(tensor.data_offsets.end);
        let range = start.zip(end).and_then(|(s, e)| Some(usize::try_from(s).ok()?..usize::try_from(e).ok()?));
        range.and_then(|r| file.get(r)).ok_or_else(|| {
            NavajaError::format(format!(
                "tensor {:?} spans data bytes {}..{}, past the end of the {}-byte file \
                 (is this the file the header was parsed from?)",
                tensor.name,
                tensor.data_offsets.start,
                tensor.data_offsets.end,
                file.len()
            ))
        })
    }

    /// The values of an F32, F16 or BF16 tensor widened to f32 (little-endian
    /// in the file); any other dtype is `unsupported-model`.
    pub fn tensor_f32(&self, file: &[u8], tensor: &SafetensorsTensor) -> Result<Vec<f32>> {
        tensor.dtype.require_compute(&tensor.name)?;
        let bytes = self.tensor_data(file, tensor)?;
        Ok(match tensor.dtype {
            SafetensorsDtype::F32 => {
                bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
            SafetensorsDtype::F16 => {
                bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            _ => bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        })
    }

    /// Total bytes of tensor data.
    pub fn data_len(&self) -> u64 {
        self.tensors.iter().map(|t| t.data_offsets.end).max().unwrap_or(0)
    }
}

struct ParsedHeader {
    metadata: Vec<(String, String)>,
    tensors: Vec<SafetensorsTensor>,
}

fn parse_header_json(json: &[u8]) -> Result<ParsedHeader> {
    let text = std::str::from_utf8(json).map_err(|e| {
        NavajaError::format(format!("the safetensors header is not valid UTF-8 (at byte {})", e.valid_up_to()))
    })?;
    // The format says the JSON starts with '{' (it may be padded with trailing spaces).
    if !text.starts_with('{') {
        return Err(NavajaError::format(
            "the safetensors header does not start with '{': not a safetensors file, or a corrupt one",
        ));
    }
    let entries = parse_ordered_object(text)?;

    let mut metadata = Vec::new();
    let mut tensors = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if key == "__metadata__" {
            metadata = parse_metadata(value)?;
        } else {
            tensors.push(parse_tensor(key, value)?);
        }
    }
    Ok(ParsedHeader { metadata, tensors })
}

/// The top-level object as (key, value) pairs in file order. serde_json's own
/// map would silently keep the last of two equal keys; the format forbids
/// duplicates, so they are refused here.
fn parse_ordered_object(text: &str) -> Result<Vec<(String, Value)>> {
    struct Ordered(Vec<(String, Value)>);
    struct OrderedVisitor;
    impl<'de> Visitor<'de> for OrderedVisitor {
        type Value = Ordered;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object of tensors")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Ordered, A::Error> {
            let mut entries: Vec<(String, Value)> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            while let Some((key, value)) = map.next_entry::<String, Value>()? {
                if !seen.insert(key.clone()) {
                    return Err(de::Error::custom(format!("key {key:?} appears twice")));
                }
                entries.push((key, value));
            }
            Ok(Ordered(entries))
        }
    }
    impl<'de> serde::Deserialize<'de> for Ordered {
        fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Ordered, D::Error> {
            d.deserialize_map(OrderedVisitor)
        }
    }
    serde_json::from_str::<Ordered>(text)
        .map(|o| o.0)
        .map_err(|e| NavajaError::format(format!("the safetensors header is not valid JSON: {e}")))
}

fn parse_metadata(value: Value) -> Result<Vec<(String, String)>> {
    let Value::Object(map) = value else {
        return Err(NavajaError::format("safetensors __metadata__ must be an object of strings"));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(NavajaError::format(format!(
                "safetensors __metadata__ value {k:?} must be a string, but is {}",
                json_kind(&other)
            ))),
        })
        .collect()
}

fn parse_tensor(name: String, value: Value) -> Result<SafetensorsTensor> {
    let bad = |what: &str| NavajaError::format(format!("tensor {name:?} in the safetensors header: {what}"));
    let Value::Object(obj) = value else {
        return Err(bad(&format!("expected an object with dtype, shape and data_offsets, got {}", json_kind(&value))));
    };
    let dtype = match obj.get("dtype") {
        Some(Value::String(s)) => SafetensorsDtype::parse(s).map_err(|e| bad(&e.to_string()))?,
        Some(other) => return Err(bad(&format!("dtype must be a string, got {}", json_kind(other)))),
        None => return Err(bad("dtype is missing")),
    };
    let shape = match obj.get("shape") {
        Some(Value::Array(dims)) => dims
            .iter()
            .map(|d| d.as_u64().ok_or_else(|| bad(&format!("shape entry {d} is not a non-negative integer"))))
            .collect::<Result<Vec<u64>>>()?,
        Some(other) => return Err(bad(&format!("shape must be an array, got {}", json_kind(other)))),
        None => return Err(bad("shape is missing")),
    };
    let offsets = match obj.get("data_offsets") {
        Some(Value::Array(v)) if v.len() == 2 => {
            let get = |i: usize| v.get(i).and_then(Value::as_u64);
            match (get(0), get(1)) {
                (Some(b), Some(e)) => b..e,
                _ => return Err(bad("data_offsets must be two non-negative integers")),
            }
        }
        Some(_) => return Err(bad("data_offsets must be an array [begin, end]")),
        None => return Err(bad("data_offsets is missing")),
    };
    if offsets.end < offsets.start {
        return Err(bad(&format!("data_offsets [{}, {}] end before they begin", offsets.start, offsets.end)));
    }
    let n_elements = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(&format!("shape {shape:?} overflows")))?;
    let expected = dtype
        .bytes_for(n_elements)
        .ok_or_else(|| bad(&format!("{n_elements} {dtype} values do not fill a whole number of bytes")))?;
    let actual = offsets.end - offsets.start;
    if expected != actual {
        return Err(bad(&format!(
            "shape {shape:?} of {dtype} needs {expected} bytes, but data_offsets [{}, {}] give {actual}",
            offsets.start, offsets.end
        )));
    }
    Ok(SafetensorsTensor { name, dtype, shape, data_offsets: offsets, n_elements })
}

/// The ranges must tile `0..data_len` exactly: the format forbids holes (so a
/// file cannot smuggle other content, a "polyglot"), overlaps, and bytes past
/// the last tensor.
fn check_coverage(tensors: &[SafetensorsTensor], data_len: u64) -> Result<()> {
    let mut order: Vec<&SafetensorsTensor> = tensors.iter().collect();
    order.sort_by_key(|t| (t.data_offsets.start, t.data_offsets.end));
    let mut covered = 0u64;
    let mut last: Option<&str> = None;
    for t in order {
        let r = &t.data_offsets;
        if r.end > data_len {
            return Err(NavajaError::format(format!(
                "tensor {:?} spans data bytes {}..{}, past the end of the data section ({data_len} bytes): \
                 the file is truncated or corrupt",
                t.name, r.start, r.end
            )));
        }
        if r.start < covered {
            return Err(NavajaError::format(format!(
                "tensor {:?} (data bytes {}..{}) overlaps tensor {:?}, which ends at {covered}",
                t.name,
                r.start,
                r.end,
                last.unwrap_or("?")
            )));
        }
        if r.start > covered {
            return Err(NavajaError::format(format!(
                "data bytes {covered}..{} belong to no tensor (a hole before {:?}); safetensors files \
                 must be fully indexed",
                r.start, t.name
            )));
        }
        covered = r.end;
        last = Some(&t.name);
    }
    if covered != data_len {
        return Err(NavajaError::format(format!(
            "the data section has {data_len} bytes but the tensors cover only {covered}: \
             {} trailing bytes belong to no tensor",
            data_len - covered
        )));
    }
    Ok(())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
