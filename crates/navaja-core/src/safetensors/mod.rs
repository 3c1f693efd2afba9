//! safetensors, Hugging Face's tensor file format.
//!
//! ```text
//! header length N: u64 little-endian | N bytes of UTF-8 JSON | data section
//! JSON: {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
//! ```
//!
//! Offsets are relative to the data section. The format requires the tensor
//! ranges to cover the data section exactly (no holes, no overlaps), shapes
//! are row-major, values little-endian.
//!
//! - [`SafetensorsFile::parse`] checks a complete file; tensor bytes are then
//!   borrowed with [`SafetensorsFile::tensor_data`].
//! - [`header_len`] says how many leading bytes hold the header, so a browser
//!   can fetch just those first.
//! - [`ShardedIndex`] reads `model.safetensors.index.json` for sharded models.
//!
//! Untrusted input: the header length is capped before anything is read, and
//! every error names the tensor and the problem.

mod dtype;
mod header;
mod index;

#[cfg(test)]
mod tests;

pub use dtype::SafetensorsDtype;
pub use header::{MAX_HEADER_BYTES, SafetensorsFile, SafetensorsTensor, header_len};
pub use index::ShardedIndex;

/// Builds a safetensors file in memory (tests and fixtures): `tensors` are
/// (name, dtype name, shape, bytes), laid out contiguously in the given order.
pub fn build_file(metadata: &[(&str, &str)], tensors: &[(&str, &str, &[u64], &[u8])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        let meta = metadata.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
        header.insert("__metadata__".into(), serde_json::Value::Object(meta));
    }
    let mut offset = 0usize;
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes.len()]}),
        );
        offset += bytes.len();
        data.extend_from_slice(bytes);
    }
    let json = serde_json::Value::Object(header).to_string();
    let mut out = Vec::with_capacity(8 + json.len() + data.len());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(&data);
    out
}
