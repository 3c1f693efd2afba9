//! A decoder loaded from a GGUF file while it downloads.
//!
//! Push the file's bytes in order, in chunks of any size. As soon as the
//! header is in, the model is checked (architecture, tokenizer, template) so
//! that a file navaja cannot run fails before the rest is downloaded. From
//! then on every tensor's bytes go straight into that tensor's GPU buffers
//! ([`GpuWeightWriter`]): the host holds the header, one chunk and at most
//! one partial row per tensor, never the file.
//!
//! ```text
//! push(chunk) -> GgufStream -> (tensor, offset, bytes) -> GpuWeightWriter -> queue.write_buffer
//! finish()    -> every tensor complete? allocations succeeded? -> Llama::from_tensors
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use navaja_core::gguf::{GgufStream, TensorChunk, TensorInfo};
use navaja_core::model::ModelSpec;
use navaja_core::quant::GgmlType;
use navaja_core::{NavajaError, Result};

use super::loader::{TensorMap, tensor_shape, upload_tensor};
use super::{DecoderHeader, LoadedDecoder};
use crate::GpuDevice;
use crate::weights::GpuWeightWriter;

/// Where the pieces of one tensor go.
enum TensorSink {
    /// A matrix (or an f32 vector): rows are written to the GPU as they complete.
    Rows(GpuWeightWriter),
    /// A norm weight or bias stored as f16 or quantized: tiny, expanded to
    /// f32 once complete (see [`upload_tensor`]).
    Vector(Vec<u8>),
    /// Uploaded and in the [`TensorMap`].
    Done,
}

/// The result of one `pop` of a wgpu error scope.
type ScopeResult = Pin<Box<dyn Future<Output = Option<wgpu::Error>>>>;

/// A GGUF decoder arriving in pieces; see the module documentation.
pub struct DecoderStream {
    gpu: Arc<GpuDevice>,
    stream: GgufStream,
    /// Read from the header as soon as it is complete.
    header: Option<DecoderHeader>,
    /// One per tensor of the header, created on its first piece.
    sinks: Vec<Option<TensorSink>>,
    tensors: TensorMap,
    /// Out-of-memory scopes around the pushes that allocated buffers; checked in `finish`.
    allocations: Vec<ScopeResult>,
}

impl DecoderStream {
    /// `file_len`: the size of the file when known (a Content-Length), so a
    /// truncated or oversized download is reported as soon as possible.
    pub fn new(gpu: Arc<GpuDevice>, file_len: Option<u64>) -> DecoderStream {
        DecoderStream {
            gpu,
            stream: GgufStream::new(file_len),
            header: None,
            sinks: Vec::new(),
            tensors: TensorMap::new(),
            allocations: Vec::new(),
        }
    }

    /// The model's spec, once the header has arrived.
    pub fn spec(&self) -> Option<&ModelSpec> {
        self.header.as_ref().map(|h| &h.spec)
    }

    /// Bytes pushed so far.
    pub fn received(&self) -> u64 {
        self.stream.received()
    }

    /// Feeds the next `chunk` of the file. Errors are final: `model-format`
    /// (a broken file), `unsupported-model` (valid, but not runnable here),
    /// `adapter-limit`; drop the stream and everything uploaded goes with it.
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        let Self { gpu, stream, sinks, tensors, allocations, .. } = self;
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let mut allocated = false;
        let result = stream.push(chunk, &mut |piece| accept(gpu, sinks, tensors, &mut allocated, piece));
        let popped = scope.pop();
        if allocated {
            allocations.push(Box::pin(popped));
        }
        result?;
        if self.header.is_none() {
            if let Some(header) = self.stream.header() {
                self.header = Some(DecoderHeader::read(header)?);
            }
        }
        self.gpu.check_health()
    }

    /// Ends the file: fails with `model-format` if it was truncated, with
    /// `out-of-memory` if the GPU refused a weight's buffer; otherwise builds
    /// the model from its tensors.
    pub async fn finish(self) -> Result<LoadedDecoder> {
        let Self { gpu, stream, header, mut sinks, mut tensors, allocations } = self;
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let mut allocated = false;
        let finished = stream.finish(&mut |piece| accept(&gpu, &mut sinks, &mut tensors, &mut allocated, piece));
        let popped = scope.pop();
        let gguf = finished?;
        for (info, sink) in gguf.tensors.iter().zip(&sinks) {
            if !matches!(sink, Some(TensorSink::Done)) && info.n_bytes > 0 {
                return Err(NavajaError::format(format!("tensor {:?} did not arrive completely", info.name)));
            }
        }
        for scope in allocations.into_iter().chain(allocated.then(|| Box::pin(popped) as ScopeResult)) {
            if let Some(e) = scope.await {
                return Err(NavajaError::OutOfMemory(format!("uploading the model's weights: {e}")));
            }
        }
        let header = match header {
            Some(h) => h,
            // The whole file came in one push, before the header could be read.
            None => DecoderHeader::read(&gguf)?,
        };
        gpu.check_health()?;
        let loaded = header.build(&mut tensors)?;
        gpu.check_health()?;
        Ok(loaded)
    }
}

/// Routes one piece of a tensor to its sink, creating the sink on the first
/// piece and uploading what completes.
fn accept(
    gpu: &GpuDevice,
    sinks: &mut Vec<Option<TensorSink>>,
    tensors: &mut TensorMap,
    allocated: &mut bool,
    piece: TensorChunk<'_>,
) -> Result<()> {
    let info = piece.info;
    if sinks.len() <= piece.tensor {
        sinks.resize_with(piece.tensor + 1, || None);
    }
    let slot = &mut sinks[piece.tensor];
    if slot.is_none() {
        *slot = Some(new_sink(gpu, info)?);
        *allocated = true;
    }
    let complete = match slot {
        Some(TensorSink::Rows(writer)) => {
            writer.write(gpu, piece.bytes)?;
            writer.received_bytes() == writer.expected_bytes()
        }
        Some(TensorSink::Vector(bytes)) => {
            bytes.extend_from_slice(piece.bytes);
            bytes.len() as u64 == info.n_bytes
        }
        _ => return Err(NavajaError::format(format!("tensor {:?} received bytes after it was complete", info.name))),
    };
    if complete {
        let weight = match slot.replace(TensorSink::Done) {
            Some(TensorSink::Rows(writer)) => writer.finish(gpu)?,
            Some(TensorSink::Vector(bytes)) => upload_tensor(gpu, info, &bytes)?,
            _ => return Ok(()), // excluded by the match above
        };
        tensors.insert(weight);
    }
    Ok(())
}

fn new_sink(gpu: &GpuDevice, info: &TensorInfo) -> Result<TensorSink> {
    if info.dims.len() == 1 && info.ty != GgmlType::F32 {
        let len = usize::try_from(info.n_bytes)
            .map_err(|_| NavajaError::format(format!("tensor {:?} is too large", info.name)))?;
        // A vector's bytes are held until it is complete: refuse absurd ones.
        if len > 64 << 20 {
            return Err(NavajaError::format(format!("tensor {:?}: a 1-D tensor of {len} bytes", info.name)));
        }
        return Ok(TensorSink::Vector(Vec::with_capacity(len)));
    }
    let (rows, cols) = tensor_shape(info)?;
    Ok(TensorSink::Rows(GpuWeightWriter::new(gpu, &info.name, info.ty, rows, cols, u64::MAX)?))
}
