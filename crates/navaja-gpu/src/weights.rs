//! Weight matrices on the GPU, kept quantized.
//!
//! A weight is uploaded in the GPU block layout of
//! [`navaja_core::quant::gpu_layout`] (ggml's blocks, word-aligned) or, for
//! Q4_1 and Q8_0 on CPU adapters, the split layout of
//! [`navaja_core::quant::gpu_split`] (quants in whole vec4s, scales behind
//! them; see [`GpuDevice::weight_layout`]), and is never dequantized into a
//! buffer: the matmul, matvec and embedding kernels decode it as they read it. A matrix larger than one storage binding is
//! split by whole rows into several buffers (parts); ops run once per part.

use crate::GpuDevice;
use navaja_core::quant::GgmlType;
pub use navaja_core::quant::gpu_split::WeightLayout;
use navaja_core::quant::gpu_split::has_split_layout;
use navaja_core::{NavajaError, Result};

/// A `rows` x `cols` weight matrix of type `ty` in one or more GPU buffers.
#[derive(Debug)]
pub struct GpuWeight {
    pub name: String,
    pub ty: GgmlType,
    /// Output rows (ggml's second dimension).
    pub rows: usize,
    /// Values per row (ggml's first dimension).
    pub cols: usize,
    /// How the rows are arranged in the buffers; the ops pick their kernels by it.
    pub layout: WeightLayout,
    /// Consecutive row ranges, in order, covering all rows.
    pub parts: Vec<WeightPart>,
}

/// Rows `first_row .. first_row + rows` of a weight, in one storage buffer.
#[derive(Debug)]
pub struct WeightPart {
    pub buffer: wgpu::Buffer,
    pub first_row: usize,
    pub rows: usize,
}

impl GpuWeight {
    /// Bytes the weight takes on the GPU, over all parts.
    pub fn gpu_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.buffer.size()).sum()
    }

    /// Bytes of one row in its GPU layout (a whole number of u32 words).
    pub fn row_bytes(&self) -> usize {
        // Validated when the weight was uploaded.
        self.layout.row_bytes(self.ty, self.cols).unwrap_or(0)
    }

    /// Bytes a pass over every row reads: [`GpuWeight::gpu_bytes`] less the
    /// split layout's row padding, which no kernel loads.
    pub fn read_bytes(&self) -> u64 {
        (self.rows * self.layout.row_data_bytes(self.ty, self.cols).unwrap_or(0)) as u64
    }
}

/// Puts the weight's name in front of an error message, keeping its code.
fn named(name: &str, e: NavajaError) -> NavajaError {
    match e {
        NavajaError::ModelFormat(m) => NavajaError::format(format!("weight \"{name}\": {m}")),
        NavajaError::UnsupportedModel(m) => NavajaError::unsupported(format!("weight \"{name}\": {m}")),
        NavajaError::InvalidArgument(m) => NavajaError::invalid(format!("weight \"{name}\": {m}")),
        other => other,
    }
}

impl GpuDevice {
    /// The layout weights of `ty` get on this device: split for Q4_1 and Q8_0 on
    /// CPU adapters, whose block kernels read a block's quants there in one
    /// or two vec4 loads instead of 4 or 8 word loads (SwiftShader: SmolLM2's
    /// Q4_1 matvecs 1.4x as fast, its Q8_0 LM head 1.1-1.4x; see
    /// shaders/matvec_split.wgsl); blocks everywhere else, where GPUs
    /// read neighbouring words from neighbouring threads anyway.
    pub fn weight_layout(&self, ty: GgmlType) -> WeightLayout {
        if self.adapter.is_cpu() && has_split_layout(ty) { WeightLayout::Split } else { WeightLayout::Blocks }
    }

    /// Uploads a `rows` x `cols` matrix of `ty` given in ggml's layout (as a
    /// GGUF file stores it), in [`GpuDevice::weight_layout`], split into as
    /// few parts as the adapter's storage binding size allows.
    ///
    /// Errors: `unsupported-model` for a type the kernels cannot read,
    /// `model-format` when the bytes are not the matrix's size or `cols` is
    /// not a whole number of blocks, `invalid-argument` for an empty matrix,
    /// `adapter-limit` when a single row exceeds a binding.
    pub fn upload_weight(
        &self,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        ggml_bytes: &[u8],
    ) -> Result<GpuWeight> {
        self.upload_weight_split(name, ty, rows, cols, ggml_bytes, u64::MAX)
    }

    /// As [`GpuDevice::upload_weight`], with parts of at most
    /// `max_part_bytes` (also capped by the adapter), so tests can force
    /// splitting. Each piece is repacked separately: the host never holds a
    /// second copy of the whole matrix.
    pub fn upload_weight_split(
        &self,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        ggml_bytes: &[u8],
        max_part_bytes: u64,
    ) -> Result<GpuWeight> {
        self.upload_weight_in(self.weight_layout(ty), name, ty, rows, cols, ggml_bytes, max_part_bytes)
    }

    /// As [`GpuDevice::upload_weight_split`] in an explicit layout (tests
    /// of each layout's kernels on any adapter). Errors also with
    /// `unsupported-model` for a type that has no split layout.
    #[allow(clippy::too_many_arguments)]
    pub fn upload_weight_in(
        &self,
        layout: WeightLayout,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        ggml_bytes: &[u8],
        max_part_bytes: u64,
    ) -> Result<GpuWeight> {
        let mut writer = GpuWeightWriter::in_layout(self, layout, name, ty, rows, cols, max_part_bytes)?;
        if writer.expected_bytes() != ggml_bytes.len() as u64 {
            return Err(writer.size_error(ggml_bytes.len() as u64));
        }
        // Repack in slices of about 4 MiB so the temporary stays small.
        let slice = (4 << 20) / writer.ggml_row.max(1) * writer.ggml_row;
        for piece in ggml_bytes.chunks(slice.max(writer.ggml_row)) {
            writer.write(self, piece)?;
        }
        writer.finish(self)
    }
}

/// A weight whose ggml bytes arrive in order, in pieces of any size (a
/// download): every row is repacked and written to its GPU buffer as soon as
/// its last byte is in, so the host holds at most one partial row.
pub struct GpuWeightWriter {
    weight: GpuWeight,
    ggml_row: usize,
    gpu_row: usize,
    /// The bytes of a row that is not complete yet.
    carry: Vec<u8>,
    rows_done: usize,
}

impl GpuWeightWriter {
    /// Checks the shape and type and allocates the (zeroed) GPU buffers of a
    /// `rows` x `cols` weight of `ty`, in parts of at most `max_part_bytes`
    /// (and of the adapter's binding limit), in [`GpuDevice::weight_layout`].
    /// Errors as [`GpuDevice::upload_weight`].
    pub fn new(
        gpu: &GpuDevice,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        max_part_bytes: u64,
    ) -> Result<GpuWeightWriter> {
        Self::in_layout(gpu, gpu.weight_layout(ty), name, ty, rows, cols, max_part_bytes)
    }

    /// As [`GpuWeightWriter::new`] in an explicit layout.
    pub fn in_layout(
        gpu: &GpuDevice,
        layout: WeightLayout,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        max_part_bytes: u64,
    ) -> Result<GpuWeightWriter> {
        if rows == 0 || cols == 0 {
            return Err(named(name, NavajaError::invalid(format!("a {rows}x{cols} matrix is empty"))));
        }
        let gpu_row = layout.row_bytes(ty, cols).map_err(|e| named(name, e))?;
        // row_bytes accepted cols, so this is a whole number of blocks.
        let ggml_row = cols / ty.block_len() * ty.block_bytes();
        if rows.checked_mul(gpu_row).is_none() {
            return Err(named(name, NavajaError::format(format!("a {rows}x{cols} {ty} matrix is too large"))));
        }
        let limit = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size).min(max_part_bytes);
        let rows_per_part = usize::try_from(limit / gpu_row as u64).unwrap_or(usize::MAX).min(rows);
        if rows_per_part == 0 {
            return Err(NavajaError::AdapterLimit {
                what: format!("one row of weight \"{name}\" ({rows} x {cols} {ty})"),
                needed: gpu_row as u64,
                limit,
            });
        }
        let mut parts = Vec::with_capacity(rows.div_ceil(rows_per_part));
        for first_row in (0..rows).step_by(rows_per_part) {
            let part_rows = rows_per_part.min(rows - first_row);
            let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(name),
                // A whole number of words: gpu_row is one.
                size: (part_rows * gpu_row) as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            parts.push(WeightPart { buffer, first_row, rows: part_rows });
        }
        Ok(GpuWeightWriter {
            weight: GpuWeight { name: name.to_string(), ty, rows, cols, layout, parts },
            ggml_row,
            gpu_row,
            carry: Vec::new(),
            rows_done: 0,
        })
    }

    /// Bytes of the whole matrix in ggml's layout.
    pub fn expected_bytes(&self) -> u64 {
        (self.weight.rows * self.ggml_row) as u64
    }

    /// Bytes received so far.
    pub fn received_bytes(&self) -> u64 {
        (self.rows_done * self.ggml_row + self.carry.len()) as u64
    }

    fn size_error(&self, given: u64) -> NavajaError {
        let w = &self.weight;
        named(
            &w.name,
            NavajaError::format(format!(
                "a {}x{} {} matrix takes {} * {} bytes, but {given} bytes were given",
                w.rows, w.cols, w.ty, w.rows, self.ggml_row
            )),
        )
    }

    /// Appends the next `bytes` of the matrix (ggml layout, in order).
    pub fn write(&mut self, gpu: &GpuDevice, mut bytes: &[u8]) -> Result<()> {
        if self.received_bytes() + bytes.len() as u64 > self.expected_bytes() {
            return Err(self.size_error(self.received_bytes() + bytes.len() as u64));
        }
        if !self.carry.is_empty() {
            let take = (self.ggml_row - self.carry.len()).min(bytes.len());
            self.carry.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.carry.len() < self.ggml_row {
                return Ok(());
            }
            let row = std::mem::take(&mut self.carry);
            self.write_rows(gpu, &row)?;
        }
        let whole = bytes.len() / self.ggml_row * self.ggml_row;
        if whole > 0 {
            self.write_rows(gpu, &bytes[..whole])?;
        }
        self.carry.extend_from_slice(&bytes[whole..]);
        Ok(())
    }

    /// Repacks whole rows and writes them where they go, part by part.
    fn write_rows(&mut self, gpu: &GpuDevice, ggml: &[u8]) -> Result<()> {
        let w = &self.weight;
        let mut rows = ggml.len() / self.ggml_row;
        let mut src = ggml;
        while rows > 0 {
            let row = self.rows_done;
            // Parts are consecutive row ranges: find the one holding `row`.
            let Some(part) = w.parts.iter().find(|p| row < p.first_row + p.rows) else {
                return Err(self.size_error(self.received_bytes() + src.len() as u64));
            };
            let n = rows.min(part.first_row + part.rows - row);
            let (head, tail) = src.split_at(n * self.ggml_row);
            let packed = w.layout.repack(w.ty, n, w.cols, head).map_err(|e| named(&w.name, e))?;
            gpu.queue.write_buffer(&part.buffer, ((row - part.first_row) * self.gpu_row) as u64, &packed);
            self.rows_done += n;
            rows -= n;
            src = tail;
        }
        Ok(())
    }

    /// The weight, once every byte of it was written.
    pub fn finish(self, gpu: &GpuDevice) -> Result<GpuWeight> {
        if self.received_bytes() != self.expected_bytes() {
            return Err(self.size_error(self.received_bytes()));
        }
        // Natively, written data waits in staging memory until the next
        // submit: flush it so a model load never stages the whole file.
        gpu.queue.submit(std::iter::empty());
        Ok(self.weight)
    }
}
