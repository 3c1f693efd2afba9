//! The GGUF header: metadata and tensor infos, with every tensor's byte range
//! checked (alignment, bounds, no overlaps).

use std::ops::Range;

use super::cursor::{Cursor, ReadError, ReadResult};
use super::value::{Metadata, read_value};
use crate::quant::GgmlType;
use crate::{NavajaError, Result};

pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;
/// Smallest encoded key/value pair: key length + value type + a 1-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Smallest encoded tensor info: name length + n_dims + one dim + type + offset.
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 8 + 4 + 8;

/// One tensor of a GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the contiguous (row) dimension.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Offset of the first byte, relative to the start of the data section.
    pub offset: u64,
    pub n_elements: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Absolute byte range of the tensor in the file.
    pub fn file_range(&self, data_offset: u64) -> Range<u64> {
        data_offset + self.offset..data_offset + self.offset + self.n_bytes
    }
}

/// Everything before the tensor data.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute offset of the data section (aligned end of the tensor infos).
    pub data_offset: u64,
}

impl GgufHeader {
    /// Parses the header of a complete file and checks that every tensor lies
    /// inside it. Tensor bytes are then available without copying through
    /// [`GgufHeader::tensor_data`].
    pub fn parse(file: &[u8]) -> Result<GgufHeader> {
        match parse_prefix(file, true, Some(file.len() as u64)) {
            Ok(h) => Ok(h),
            Err(ReadError::Invalid(e)) => Err(e),
            // A complete cursor reports truncation as Invalid, never NeedMore.
            Err(ReadError::NeedMore { .. }) => Err(NavajaError::format("truncated GGUF header")),
        }
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The bytes of `tensor` inside the complete `file` this header was parsed from.
    pub fn tensor_data<'a>(&self, file: &'a [u8], tensor: &TensorInfo) -> Result<&'a [u8]> {
        let range = tensor.file_range(self.data_offset);
        file.get(range.start as usize..range.end as usize).ok_or_else(|| {
            NavajaError::format(format!(
                "tensor {:?} ends at byte {}, past the end of the file",
                tensor.name, range.end
            ))
        })
    }

    /// Absolute end of the last tensor: the size a complete file needs
    /// (0 for a file without tensors, whose header alone is complete).
    pub fn tensors_end(&self) -> u64 {
        self.tensors.iter().map(|t| t.file_range(self.data_offset).end).max().unwrap_or(0)
    }
}

/// Parses a header from `buf`. With `complete`, `buf` is the whole file;
/// otherwise running out of bytes yields `NeedMore`. `file_len`, when known,
/// bounds every tensor range.
pub(crate) fn parse_prefix(buf: &[u8], complete: bool, file_len: Option<u64>) -> ReadResult<GgufHeader> {
    let mut cur = Cursor::new(buf, complete);
    let magic = cur.array::<4>(&|| "the magic".into())?;
    if &magic != b"GGUF" {
        return Err(ReadError::Invalid(NavajaError::format(format!(
            "not a GGUF file: the magic is {:?}, expected \"GGUF\"",
            String::from_utf8_lossy(&magic)
        ))));
    }
    let version = cur.u32(&|| "the version".into())?;
    match version {
        2 | 3 => {}
        1 => {
            return Err(
                NavajaError::unsupported("GGUF version 1 (2023) is not supported; convert the model again").into()
            );
        }
        v if v.swap_bytes() <= 3 => {
            return Err(NavajaError::unsupported("big-endian GGUF files are not supported").into());
        }
        v => {
            return Err(NavajaError::unsupported(format!("GGUF version {v} is not supported (only 2 and 3)")).into());
        }
    }
    let n_tensors = cur.u64(&|| "the tensor count".into())?;
    let n_kv = cur.u64(&|| "the metadata count".into())?;
    // Counts the file cannot back are refused before allocating for them.
    cur.require(n_kv.saturating_mul(MIN_KV_BYTES), &|| format!("{n_kv} metadata entries"))?;

    let mut metadata = Metadata::default();
    for i in 0..n_kv {
        let key = cur.string(&|| format!("the key of metadata entry {i}"))?;
        let ty = cur.u32(&|| format!("the type of metadata {key:?}"))?;
        let value = read_value(&mut cur, ty, &|| format!("metadata {key:?}"), 0)?;
        metadata.insert(key, value)?;
    }

    cur.require(n_tensors.saturating_mul(MIN_TENSOR_INFO_BYTES), &|| format!("{n_tensors} tensor infos"))?;
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    for i in 0..n_tensors {
        tensors.push(read_tensor_info(&mut cur, i)?);
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_u64() {
            Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a,
            _ => {
                return Err(NavajaError::format(format!(
                    "general.alignment must be a power of two, got {}",
                    v.summary()
                ))
                .into());
            }
        },
    };
    let data_offset = cur.pos().next_multiple_of(alignment);
    check_layout(&tensors, alignment, data_offset, file_len)?;
    Ok(GgufHeader { version, metadata, tensors, alignment, data_offset })
}

fn read_tensor_info(cur: &mut Cursor<'_>, i: u64) -> ReadResult<TensorInfo> {
    let name = cur.string(&|| format!("the name of tensor {i}"))?;
    let n_dims = cur.u32(&|| format!("the dimension count of tensor {name:?}"))?;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(NavajaError::format(format!(
            "tensor {name:?} has {n_dims} dimensions; ggml allows 1 to {MAX_DIMS}"
        ))
        .into());
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for d in 0..n_dims {
        dims.push(cur.u64(&|| format!("dimension {d} of tensor {name:?}"))?);
    }
    let type_id = cur.u32(&|| format!("the type of tensor {name:?}"))?;
    let ty = GgmlType::from_id(type_id)
        .map_err(|_| NavajaError::format(format!("tensor {name:?} has unknown ggml type id {type_id}")))?;
    let offset = cur.u64(&|| format!("the data offset of tensor {name:?}"))?;

    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n < 1 << 60)
        .ok_or_else(|| NavajaError::format(format!("tensor {name:?} has absurd dimensions {dims:?}")))?;
    if dims[0] % ty.block_len() as u64 != 0 {
        return Err(NavajaError::format(format!(
            "tensor {name:?}: its row length {} is not a multiple of the {ty} block size {}",
            dims[0],
            ty.block_len()
        ))
        .into());
    }
    let n_bytes = ty
        .bytes_for(n_elements)
        .ok_or_else(|| NavajaError::format(format!("tensor {name:?}: size of {n_elements} {ty} values overflows")))?;
    Ok(TensorInfo { name, dims, ty, offset, n_elements, n_bytes })
}

/// Offsets aligned, ranges inside the file (when its length is known) and disjoint.
fn check_layout(tensors: &[TensorInfo], alignment: u64, data_offset: u64, file_len: Option<u64>) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(tensors.len());
    for t in tensors {
        if !seen.insert(t.name.as_str()) {
            return Err(NavajaError::format(format!("tensor name {:?} appears twice", t.name)));
        }
        if t.offset % alignment != 0 {
            return Err(NavajaError::format(format!(
                "tensor {:?} starts at data offset {}, which is not a multiple of the alignment {alignment}",
                t.name, t.offset
            )));
        }
        let end = data_offset.checked_add(t.offset).and_then(|s| s.checked_add(t.n_bytes));
        match (end, file_len) {
            (None, _) => {
                return Err(NavajaError::format(format!("tensor {:?}: its byte range overflows", t.name)));
            }
            (Some(end), Some(len)) if end > len => {
                return Err(NavajaError::format(format!(
                    "tensor {:?} spans bytes {}..{end}, past the end of the file ({len} bytes): the file is truncated or corrupt",
                    t.name,
                    data_offset + t.offset
                )));
            }
            _ => {}
        }
    }
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    for pair in order.windows(2) {
        if pair[0].offset + pair[0].n_bytes > pair[1].offset {
            return Err(NavajaError::format(format!(
                "tensors {:?} and {:?} overlap (data bytes {}..{} and {}..)",
                pair[0].name,
                pair[1].name,
                pair[0].offset,
                pair[0].offset + pair[0].n_bytes,
                pair[1].offset
            )));
        }
    }
    Ok(())
}
