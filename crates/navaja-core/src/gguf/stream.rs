//! Parsing a GGUF file as it downloads.
//!
//! Push chunks of any size in order. Once the header is complete it becomes
//! available, and from then on every pushed byte that belongs to a tensor is
//! handed to the caller as a [`TensorChunk`] (tensor index, offset inside the
//! tensor, bytes), ready to be written into that tensor's GPU buffer. Only the
//! header is ever buffered.

use super::cursor::ReadError;
use super::header::{GgufHeader, TensorInfo, parse_prefix};
use crate::{NavajaError, Result};

/// A header larger than this is refused (the largest real vocabularies make
/// headers of about 10 MiB).
pub const MAX_HEADER_BYTES: u64 = 256 << 20;

/// A piece of one tensor's data.
#[derive(Debug, PartialEq)]
pub struct TensorChunk<'a> {
    /// Index into `GgufHeader::tensors`.
    pub tensor: usize,
    /// That tensor's info, so a sink can set up its destination on the first piece.
    pub info: &'a TensorInfo,
    /// Offset of `bytes` inside the tensor.
    pub offset: u64,
    pub bytes: &'a [u8],
}

pub struct GgufStream {
    file_len: Option<u64>,
    /// Bytes received before the header could be parsed.
    pending: Vec<u8>,
    /// Don't retry parsing before `pending` reaches this size (keeps the work linear).
    retry_at: u64,
    header: Option<GgufHeader>,
    /// Tensor indices sorted by offset, and the bytes of the file seen so far.
    order: Vec<usize>,
    received: u64,
}

impl GgufStream {
    /// `file_len`: the size of the whole file when known (a Content-Length);
    /// it lets truncation and bad ranges be reported as early as possible.
    pub fn new(file_len: Option<u64>) -> Self {
        GgufStream { file_len, pending: Vec::new(), retry_at: 0, header: None, order: Vec::new(), received: 0 }
    }

    pub fn header(&self) -> Option<&GgufHeader> {
        self.header.as_ref()
    }

    /// Bytes pushed so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Feeds the next `chunk` of the file; `sink` receives every tensor piece it completes.
    pub fn push(&mut self, chunk: &[u8], sink: &mut dyn FnMut(TensorChunk<'_>) -> Result<()>) -> Result<()> {
        let start = self.received;
        self.received += chunk.len() as u64;
        if let Some(len) = self.file_len {
            if self.received > len {
                return Err(NavajaError::format(format!(
                    "received {} bytes, more than the announced {len}",
                    self.received
                )));
            }
        }
        if self.header.is_some() {
            return self.emit(start, chunk, sink);
        }
        self.pending.extend_from_slice(chunk);
        if (self.pending.len() as u64) < self.retry_at && Some(self.received) != self.file_len {
            return Ok(());
        }
        let complete = Some(self.received) == self.file_len;
        match parse_prefix(&self.pending, complete, self.file_len) {
            Ok(header) => self.accept_header(header, sink),
            Err(ReadError::Invalid(e)) => Err(e),
            Err(ReadError::NeedMore { total }) => {
                if total > MAX_HEADER_BYTES {
                    return Err(NavajaError::format(format!(
                        "the GGUF header claims at least {total} bytes, more than the {MAX_HEADER_BYTES} navaja accepts"
                    )));
                }
                if let Some(len) = self.file_len.filter(|&len| total > len) {
                    return Err(NavajaError::format(format!(
                        "truncated GGUF: the header needs {total} bytes but the file has {len}"
                    )));
                }
                // Wait for the missing bytes, and at least double what we had,
                // so a header arriving in tiny chunks is parsed O(log n) times.
                self.retry_at = total.max(2 * self.pending.len() as u64);
                Ok(())
            }
        }
    }

    /// Ends the stream: fails if the header or any tensor is incomplete.
    /// `sink` receives the tensor bytes still held back (a file whose end
    /// came while the header parse was deferred).
    pub fn finish(mut self, sink: &mut dyn FnMut(TensorChunk<'_>) -> Result<()>) -> Result<GgufHeader> {
        if self.header.is_none() {
            match parse_prefix(&self.pending, true, Some(self.received)) {
                Ok(header) => self.accept_header(header, sink)?,
                Err(ReadError::Invalid(e)) => return Err(e),
                Err(ReadError::NeedMore { .. }) => {}
            }
        }
        let header = self.header.ok_or_else(|| {
            NavajaError::format(format!(
                "truncated GGUF: the file ended after {} bytes, inside its header",
                self.received
            ))
        })?;
        let needed = header.tensors_end();
        if self.received < needed {
            let cut = header
                .tensors
                .iter()
                .find(|t| t.file_range(header.data_offset).end > self.received)
                .map(|t| t.name.as_str())
                .unwrap_or("?");
            return Err(NavajaError::format(format!(
                "truncated GGUF: the file ended after {} bytes, inside tensor {cut:?} (needs {needed})",
                self.received
            )));
        }
        Ok(header)
    }

    fn accept_header(&mut self, header: GgufHeader, sink: &mut dyn FnMut(TensorChunk<'_>) -> Result<()>) -> Result<()> {
        let mut order: Vec<usize> = (0..header.tensors.len()).collect();
        order.sort_by_key(|&i| header.tensors[i].offset);
        self.order = order;
        self.header = Some(header);
        let pending = std::mem::take(&mut self.pending);
        self.emit(0, &pending, sink)
    }

    /// Hands out the parts of `bytes` (file offset `start`) that fall inside tensors.
    fn emit(&self, start: u64, bytes: &[u8], sink: &mut dyn FnMut(TensorChunk<'_>) -> Result<()>) -> Result<()> {
        let Some(header) = &self.header else {
            return Ok(());
        };
        let end = start + bytes.len() as u64;
        // First tensor whose range ends after `start`.
        let first = self.order.partition_point(|&i| header.tensors[i].file_range(header.data_offset).end <= start);
        for &i in &self.order[first..] {
            let range = header.tensors[i].file_range(header.data_offset);
            if range.start >= end {
                break;
            }
            let lo = range.start.max(start);
            let hi = range.end.min(end);
            if lo < hi {
                sink(TensorChunk {
                    tensor: i,
                    info: &header.tensors[i],
                    offset: lo - range.start,
                    bytes: &bytes[(lo - start) as usize..(hi - start) as usize],
                })?;
            }
        }
        Ok(())
    }
}
